"""The SQL of the store's migrations 1 to 7 (storage/schema_history.py lists them): released, never edited."""

# migration 1
V1 = """
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
        """

# migration 2
V2 = """
        CREATE TABLE quarantine (
            quarantine_id VARCHAR PRIMARY KEY,
            file VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            raw BLOB NOT NULL,
            error VARCHAR NOT NULL,
            quarantined_at TIMESTAMP NOT NULL
        );
        """

# migration 3
V3 = """
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
        """

# migration 4
V4 = """
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
        """

# migration 5
V5 = """
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
        """

# migration 6
V6 = """
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
        """

# migration 7
V7 = """
        -- A CodeTests object (storage/code_problems.py): stdin/stdout cases, asserts, or function calls.
        ALTER TABLE prompts ADD COLUMN tests JSON;
        """
