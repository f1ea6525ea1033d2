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
