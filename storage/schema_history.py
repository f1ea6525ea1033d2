"""The schema's history: each migration of the store, in order. A file records which ones it has applied
(`storage/migrations.py` applies the rest); a migration once released is never edited, only followed."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the schema; `version` is its position, starting at 1."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "prompts, runs, samples, verdicts, sets",
        """
        CREATE TABLE prompts (
            prompt_id VARCHAR PRIMARY KEY,
            source VARCHAR NOT NULL,
            problem VARCHAR NOT NULL,
            reference VARCHAR,
            domain VARCHAR NOT NULL,
            target_language VARCHAR,
            metadata JSON,
            added_at TIMESTAMP NOT NULL
        );
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            flow_run_id VARCHAR,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            sampler JSON,
            sampling JSON,
            checks JSON,
            package_version VARCHAR NOT NULL
        );
        CREATE TABLE samples (
            sample_id VARCHAR PRIMARY KEY,
            prompt_id VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL,
            round INTEGER NOT NULL,
            sample_index INTEGER NOT NULL,
            seed BIGINT,
            completion VARCHAR NOT NULL,
            reasoning VARCHAR,
            answer VARCHAR,
            finish_reason VARCHAR,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            accepted BOOLEAN NOT NULL,
            reject_reason VARCHAR,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE verdicts (
            sample_id VARCHAR NOT NULL,
            check_name VARCHAR NOT NULL,
            passed BOOLEAN NOT NULL,
            score DOUBLE,
            reason VARCHAR,
            PRIMARY KEY (sample_id, check_name)
        );
        CREATE TABLE sets (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            spec JSON,
            row_count BIGINT NOT NULL,
            PRIMARY KEY (name, version)
        );
        CREATE TABLE set_members (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            sample_id VARCHAR NOT NULL,
            PRIMARY KEY (name, version, sample_id)
        );
        """,
    ),
    Migration(
        2,
        "quarantine for malformed input lines",
        """
        CREATE TABLE quarantine (
            quarantine_id VARCHAR PRIMARY KEY,
            file VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            raw BLOB NOT NULL,
            error VARCHAR NOT NULL,
            quarantined_at TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "views accepted, funnel, prompt_stats",
        """
        CREATE VIEW accepted AS
        SELECT s.*, p.source, p.problem, p.reference, p.domain, p.target_language
        FROM samples s JOIN prompts p ON p.prompt_id = s.prompt_id
        WHERE s.accepted;

        -- One row per run and outcome: accepted, or the first failing check and its reason.
        -- The samples of a run add up to the run's sample count.
        CREATE VIEW funnel AS
        WITH failed AS (
            SELECT sample_id, reason, min(check_name) AS check_name
            FROM verdicts WHERE NOT passed GROUP BY sample_id, reason
        ),
        outcome AS (
            SELECT s.run_id,
                   CASE WHEN s.accepted THEN 'accepted' ELSE coalesce(f.check_name, 'unknown') END AS check_name,
                   CASE WHEN s.accepted THEN 'accepted' ELSE coalesce(s.reject_reason, 'unknown') END AS reason
            FROM samples s LEFT JOIN failed f ON f.sample_id = s.sample_id AND f.reason = s.reject_reason
        )
        SELECT run_id, check_name, reason, count(*) AS samples,
               count(*) / sum(count(*)) OVER (PARTITION BY run_id) AS share
        FROM outcome GROUP BY run_id, check_name, reason;

        -- Pass rate per prompt: the difficulty signal for resampling and curation.
        CREATE VIEW prompt_stats AS
        SELECT p.prompt_id, p.source, p.domain,
               count(s.sample_id) AS sampled,
               count(s.sample_id) FILTER (WHERE s.accepted) AS accepted,
               CASE WHEN count(s.sample_id) > 0
                    THEN count(s.sample_id) FILTER (WHERE s.accepted) / count(s.sample_id) END AS pass_rate
        FROM prompts p LEFT JOIN samples s ON s.prompt_id = p.prompt_id
        GROUP BY p.prompt_id, p.source, p.domain;
        """,
    ),
    Migration(
        4,
        "verdict details, run configs, per prompt and round progress of runs",
        """
        ALTER TABLE verdicts ADD COLUMN detail VARCHAR;
        -- The whole run config as given (paths resolved), beside the columns that identify the samples.
        ALTER TABLE runs ADD COLUMN config JSON;

        -- One row per (run, prompt, round) sampled and stored, written in the same transaction as its samples:
        -- a rerun of the run skips exactly these, even when every sample collapsed into an earlier duplicate.
        CREATE TABLE run_rounds (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            round INTEGER NOT NULL,
            samples INTEGER NOT NULL,
            accepted INTEGER NOT NULL,
            completion_tokens BIGINT,
            stored_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, prompt_id, round)
        );
        """,
    ),
    Migration(
        5,
        "near-duplicate index: MinHash signatures and LSH band keys of kept samples",
        """
        -- `params` names the MinHash settings (n-gram, bands x rows, seed): indexes of other settings never mix.
        CREATE TABLE near_dup_signatures (
            params VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            text_hash VARCHAR NOT NULL,
            signature BLOB NOT NULL,
            added_at TIMESTAMP NOT NULL,
            PRIMARY KEY (params, sample_id)
        );
        CREATE TABLE near_dup_bands (
            params VARCHAR NOT NULL,
            band SMALLINT NOT NULL,
            key BIGINT NOT NULL,  -- the uint64 band key, read as a signed 64-bit integer
            sample_id VARCHAR NOT NULL,
            PRIMARY KEY (params, band, key)
        );
        """,
    ),
    Migration(
        6,
        "benchmarks registered for decontamination, as word n-gram sets",
        """
        CREATE TABLE benchmarks (
            name VARCHAR PRIMARY KEY,
            ngram INTEGER NOT NULL,
            problems BIGINT NOT NULL,
            files JSON,
            added_at TIMESTAMP NOT NULL
        );
        -- One row per distinct word n-gram of a benchmark's problems; `ngram_hash` is the xxh3_64 of the
        -- n-gram's words joined by spaces, read as a signed 64-bit integer.
        CREATE TABLE benchmark_ngrams (
            benchmark VARCHAR NOT NULL,
            ngram_hash BIGINT NOT NULL,
            ngram VARCHAR NOT NULL,
            PRIMARY KEY (benchmark, ngram_hash)
        );
        """,
    ),
    Migration(
        7,
        "code problems: the tests a program must pass",
        """
        -- A CodeTests object (storage/code_problems.py): stdin/stdout cases, asserts, or function calls.
        ALTER TABLE prompts ADD COLUMN tests JSON;
        """,
    ),
    Migration(
        8,
        "runs own their outcomes: completions stored once, each run's outcome and verdicts per sample",
        """
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
        """,
    ),
    Migration(
        9,
        "per-endpoint counts of a run's sampler",
        """
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
        """,
    ),
    Migration(
        10,
        "shards of a sharded run: each shard's store, flow run, state and counts, and when it was merged",
        """
        -- One row per shard of a run split over a work pool. A shard is merged into this store once: its rows,
        -- and `merged_at`, are written in one transaction, so a merged shard is never merged again.
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
        """,
    ),
)
