"""The SQL of the store's migrations from 8 on, since runs own their outcomes (storage/schema_history.py lists
them): released, never edited; a new migration adds its SQL here."""

# migration 8
V8 = """
        DROP VIEW accepted;
        DROP VIEW funnel;
        DROP VIEW prompt_stats;

        -- A completion is stored once, whichever runs judged it (sample_id = xxh3 of prompt, model, text).
        CREATE TABLE completions (
            sample_id VARCHAR PRIMARY KEY,
            prompt_id VARCHAR NOT NULL,
            completion VARCHAR NOT NULL,
            reasoning VARCHAR,
            answer VARCHAR,
            finish_reason VARCHAR,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            created_at TIMESTAMP NOT NULL
        );
        INSERT INTO completions
        SELECT sample_id, prompt_id, completion, reasoning, answer, finish_reason, prompt_tokens,
               completion_tokens, created_at
        FROM samples;

        -- What one run decided about one completion it judged: where it came from in the run, and the decision.
        CREATE TABLE outcomes (
            run_id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            round INTEGER NOT NULL,
            sample_index INTEGER NOT NULL,
            seed BIGINT,
            accepted BOOLEAN NOT NULL,
            reject_check VARCHAR,
            reject_reason VARCHAR,
            judged_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, sample_id)
        );
        INSERT INTO outcomes
        SELECT s.run_id, s.sample_id, s.prompt_id, s.round, s.sample_index, s.seed, s.accepted,
               CASE WHEN NOT s.accepted THEN (
                   SELECT min(v.check_name) FROM verdicts v
                   WHERE v.sample_id = s.sample_id AND NOT v.passed AND v.reason IS NOT DISTINCT FROM s.reject_reason
               ) END,
               s.reject_reason, s.created_at
        FROM samples s;

        -- Verdicts belong to the run that computed them.
        CREATE TABLE run_verdicts (
            run_id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            check_name VARCHAR NOT NULL,
            passed BOOLEAN NOT NULL,
            score DOUBLE,
            reason VARCHAR,
            detail VARCHAR,
            PRIMARY KEY (run_id, sample_id, check_name)
        );
        INSERT INTO run_verdicts
        SELECT s.run_id, v.sample_id, v.check_name, v.passed, v.score, v.reason, v.detail
        FROM verdicts v JOIN samples s USING (sample_id);
        DROP TABLE verdicts;
        ALTER TABLE run_verdicts RENAME TO verdicts;
        DROP TABLE samples;

        -- One row per (run, completion): the completion with that run's outcome, as `samples` was before.
        CREATE VIEW samples AS
        SELECT c.sample_id, c.prompt_id, o.run_id, o.round, o.sample_index, o.seed, c.completion, c.reasoning,
               c.answer, c.finish_reason, c.prompt_tokens, c.completion_tokens, o.accepted, o.reject_check,
               o.reject_reason, c.created_at, o.judged_at
        FROM outcomes o JOIN completions c USING (sample_id);

        CREATE VIEW accepted AS
        SELECT s.*, p.source, p.problem, p.reference, p.domain, p.target_language
        FROM samples s JOIN prompts p ON p.prompt_id = s.prompt_id
        WHERE s.accepted;

        -- One row per run and outcome: accepted, or the first failing check and its reason.
        -- The outcomes of a run add up to the run's sample count.
        CREATE VIEW funnel AS
        SELECT run_id,
               CASE WHEN accepted THEN 'accepted' ELSE coalesce(reject_check, 'unknown') END AS check_name,
               CASE WHEN accepted THEN 'accepted' ELSE coalesce(reject_reason, 'unknown') END AS reason,
               count(*) AS samples,
               count(*) / sum(count(*)) OVER (PARTITION BY run_id) AS share
        FROM outcomes GROUP BY run_id, check_name, reason;

        -- Pass rate per run and prompt: the difficulty signal for resampling and curation. Prompts no run has
        -- sampled have one row with run_id NULL.
        CREATE VIEW prompt_stats AS
        SELECT o.run_id, p.prompt_id, p.source, p.domain,
               count(o.sample_id) AS sampled,
               count(o.sample_id) FILTER (WHERE o.accepted) AS accepted,
               CASE WHEN count(o.sample_id) > 0
                    THEN count(o.sample_id) FILTER (WHERE o.accepted) / count(o.sample_id) END AS pass_rate
        FROM prompts p LEFT JOIN outcomes o ON o.prompt_id = p.prompt_id
        GROUP BY o.run_id, p.prompt_id, p.source, p.domain;
        """

# migration 9
V9 = """
        -- What each server of a run's fleet answered, summed over the run's invocations; the state columns
        -- are as of the last commit.
        CREATE TABLE run_endpoints (
            run_id VARCHAR NOT NULL,
            endpoint VARCHAR NOT NULL,
            requests BIGINT NOT NULL,
            sequences BIGINT NOT NULL,
            failures BIGINT NOT NULL,
            set_aside BOOLEAN NOT NULL,
            last_error VARCHAR,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, endpoint)
        );
        """

# One row per shard of a run split over a work pool. A shard is merged into this store once: its rows, and
# `merged_at`, are written in one transaction, so a merged shard is never merged again.
V10 = """
        CREATE TABLE run_shards (
            run_id VARCHAR NOT NULL,
            shards INTEGER NOT NULL,
            shard INTEGER NOT NULL,
            store VARCHAR NOT NULL,
            flow_run_id VARCHAR,
            state VARCHAR NOT NULL,
            prompts BIGINT NOT NULL,
            prompts_sampled BIGINT,
            samples BIGINT,
            accepted BIGINT,
            completion_tokens BIGINT,
            merged_at TIMESTAMP,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, shards, shard)
        );
        """

# migration 11: what a run cost, in generated tokens. `run_rounds.completion_tokens` counts every token a unit
# generated (samples that collapsed into an exact duplicate too); a sample's own count is on its completion.
# A sample whose outcome is `target_met` was stopped because its prompt already had its target: no rejection,
# and left out of pass rates.
V11 = """
        DROP VIEW funnel;
        DROP VIEW prompt_stats;

        -- One row per run and outcome: accepted, or the first failing check and its reason, with the tokens its
        -- samples generated (NULL when no sample of the row has a count). The outcomes of a run add up to the
        -- run's sample count.
        CREATE VIEW funnel AS
        SELECT o.run_id,
               CASE WHEN o.accepted THEN 'accepted' ELSE coalesce(o.reject_check, 'unknown') END AS check_name,
               CASE WHEN o.accepted THEN 'accepted' ELSE coalesce(o.reject_reason, 'unknown') END AS reason,
               count(*) AS samples,
               count(*) / sum(count(*)) OVER (PARTITION BY o.run_id) AS share,
               sum(c.completion_tokens)::BIGINT AS generated_tokens
        FROM outcomes o LEFT JOIN completions c USING (sample_id)
        GROUP BY o.run_id, check_name, reason;

        -- Pass rate per run and prompt, target_met samples left out of it. Prompts no run has sampled have one
        -- row with run_id NULL.
        CREATE VIEW prompt_stats AS
        SELECT o.run_id, p.prompt_id, p.source, p.domain,
               count(o.sample_id) AS sampled,
               count(o.sample_id) FILTER (WHERE o.accepted) AS accepted,
               CASE WHEN count(o.sample_id) FILTER (WHERE o.reject_check IS DISTINCT FROM 'target_met') > 0
                    THEN count(o.sample_id) FILTER (WHERE o.accepted)
                         / count(o.sample_id) FILTER (WHERE o.reject_check IS DISTINCT FROM 'target_met')
               END AS pass_rate,
               count(o.sample_id) FILTER (WHERE NOT o.accepted AND o.reject_check = 'target_met') AS target_met
        FROM prompts p LEFT JOIN outcomes o ON o.prompt_id = p.prompt_id
        GROUP BY o.run_id, p.prompt_id, p.source, p.domain;

        -- One row per run: what it generated and what that bought. Token sums are NULL where no sample of the
        -- kind has a count (a server that reports usage per request only), 0 where there is no such sample.
        -- saved_tokens estimates what aborts saved: per aborted sample that had generated g tokens, the mean
        -- length of the run's samples that ran to their end (stop, length, repetition) and are longer than g,
        -- less g (the mean remaining length of a sample that got as far); 0 when none got further.
        CREATE VIEW run_cost AS
        WITH judged AS (
            SELECT o.run_id, o.prompt_id, o.round, o.accepted,
                   NOT o.accepted AND o.reject_check = 'target_met' AS target_met,
                   coalesce(c.finish_reason LIKE 'aborted:%', false) AS aborted,
                   c.completion_tokens AS tokens, c.prompt_tokens
            FROM outcomes o LEFT JOIN completions c USING (sample_id)
        ),
        units AS (  -- each (prompt, round) the run sampled: its round's tokens, else its stored samples' tokens
            SELECT coalesce(r.run_id, j.run_id) AS run_id, coalesce(r.completion_tokens, j.tokens) AS tokens
            FROM run_rounds r
            FULL JOIN (SELECT run_id, prompt_id, round, sum(tokens) AS tokens FROM judged GROUP BY ALL) j
              ON j.run_id = r.run_id AND j.prompt_id = r.prompt_id AND j.round = r.round
        ),
        generated AS (SELECT run_id, sum(tokens)::BIGINT AS tokens FROM units GROUP BY run_id),
        finished AS (  -- per length of a sample that ran to its end: how many were at least as long, their tokens
            SELECT DISTINCT run_id, tokens AS length, count(*) OVER longer AS samples, sum(tokens) OVER longer AS total
            FROM judged WHERE NOT aborted AND tokens IS NOT NULL
            WINDOW longer AS (PARTITION BY run_id ORDER BY tokens DESC
                              RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ),
        saved AS (  -- the shortest finished length above g gives every finished sample longer than g
            SELECT a.run_id, coalesce(sum(f.total / f.samples - a.tokens), 0) AS tokens
            FROM (SELECT run_id, tokens FROM judged WHERE aborted AND tokens IS NOT NULL) a
            ASOF LEFT JOIN finished f ON f.run_id = a.run_id AND a.tokens < f.length
            GROUP BY a.run_id
        ),
        counted AS (
            SELECT run_id, count(*) AS samples, count(*) FILTER (WHERE accepted) AS accepted,
                   count(*) FILTER (WHERE target_met) AS target_met, sum(prompt_tokens)::BIGINT AS prompt_tokens,
                   count(*) FILTER (WHERE NOT accepted AND NOT target_met) AS rejected,
                   sum(tokens) FILTER (WHERE NOT accepted AND NOT target_met)::BIGINT AS rejected_tokens,
                   count(*) FILTER (WHERE aborted) AS aborted_samples,
                   sum(tokens) FILTER (WHERE aborted)::BIGINT AS aborted_tokens
            FROM judged GROUP BY run_id
        ),
        known AS (SELECT run_id FROM runs UNION SELECT run_id FROM outcomes UNION SELECT run_id FROM run_rounds)
        SELECT k.run_id,
               coalesce(c.samples, 0) AS samples,
               coalesce(c.accepted, 0) AS accepted,
               coalesce(c.target_met, 0) AS target_met,
               CASE WHEN c.samples > c.target_met THEN c.accepted / (c.samples - c.target_met) END AS pass_rate,
               CASE WHEN g.run_id IS NULL THEN 0 ELSE g.tokens END AS generated_tokens,
               CASE WHEN c.run_id IS NULL THEN 0 ELSE c.prompt_tokens END AS prompt_tokens,
               CASE WHEN c.accepted > 0 THEN g.tokens / c.accepted END AS tokens_per_accepted,
               CASE WHEN coalesce(c.rejected, 0) = 0 THEN 0 ELSE c.rejected_tokens END AS rejected_tokens,
               coalesce(c.aborted_samples, 0) AS aborted_samples,
               CASE WHEN coalesce(c.aborted_samples, 0) = 0 THEN 0 ELSE c.aborted_tokens END AS aborted_tokens,
               round(coalesce(s.tokens, 0))::BIGINT AS saved_tokens
        FROM known k
        LEFT JOIN counted c ON c.run_id = k.run_id
        LEFT JOIN generated g ON g.run_id = k.run_id
        LEFT JOIN saved s ON s.run_id = k.run_id;
        """
