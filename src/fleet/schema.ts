// The fleet's tables in PostgreSQL, as numbered migrations applied in order, each once, each in one transaction
// with its row in `portcullis.schema_migrations`. A database at a version newer than this build knows is refused:
// an older portcullis must not write into tables whose meaning it does not know.
//
// Hosts write through the ingest role, which may only INSERT and SELECT: no host can delete or rewrite history,
// its own or another's; with a login of its own (row-level security, below) a host can neither write rows under
// another host's ID. Reviewers read through the reader role. Publishers of the fleet's policy write through the
// publisher role, which may only INSERT and SELECT policy revisions; hosts may only read them. All three are NOLOGIN
// groups: the operator grants them to login roles (docs/fleet.md).

export const FLEET_SCHEMA = 'portcullis'
export const INGEST_ROLE = 'portcullis_ingest'
export const READER_ROLE = 'portcullis_reader'
export const PUBLISHER_ROLE = 'portcullis_publisher'
/** The channel a new policy revision is announced on (its payload: the revision number). */
export const POLICY_CHANNEL = 'portcullis_policy'

interface Migration {
  version: number
  description: string
  sql: string
}

const S = FLEET_SCHEMA

/** Row-level security on tables keyed by host_id: a host's login inserts and reads only its own host's rows; reviewers
 * read all. (The SQL each migration ran is unchanged by writing it once here.) */
function ownRowsOnly (tables: string[]): string {
  return tables.map((table) => `
      ALTER TABLE ${S}.${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY ingest_write ON ${S}.${table} FOR INSERT TO ${INGEST_ROLE} WITH CHECK (${S}.own_host(host_id));
      CREATE POLICY ingest_read ON ${S}.${table} FOR SELECT TO ${INGEST_ROLE} USING (${S}.own_host(host_id));
      CREATE POLICY reader_read ON ${S}.${table} FOR SELECT TO ${READER_ROLE} USING (true);`).join('')
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'hosts, records, checkpoints, heartbeats and alarms',
    sql: `
      CREATE TABLE ${S}.hosts (
        host_id text PRIMARY KEY CHECK (host_id ~ '^h-[0-9a-f]{16}$'),
        name text NOT NULL,
        key_id text NOT NULL,
        public_key text NOT NULL,
        -- The database login the host registered with: only that login may write the host's rows (policies below).
        db_user name NOT NULL DEFAULT session_user,
        registered_at timestamptz NOT NULL DEFAULT now()
      );
      -- Each record exactly as the host stored it (body), with the columns a reviewer filters on beside it.
      CREATE TABLE ${S}.records (
        host_id text NOT NULL REFERENCES ${S}.hosts,
        seq bigint NOT NULL CHECK (seq >= 1),
        time timestamptz NOT NULL,
        kind text NOT NULL,
        user_name text,
        project text,
        action text,
        decision text,
        hash text NOT NULL,
        prev_hash text NOT NULL,
        body text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host_id, seq)
      );
      CREATE INDEX records_time ON ${S}.records (time);
      CREATE TABLE ${S}.checkpoints (
        host_id text NOT NULL REFERENCES ${S}.hosts,
        seq bigint NOT NULL,
        body text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host_id, seq)
      );
      -- Insert-only too: the newest row per host is what \`fleet status\` shows.
      CREATE TABLE ${S}.heartbeats (
        id bigserial PRIMARY KEY,
        host_id text NOT NULL REFERENCES ${S}.hosts,
        at timestamptz NOT NULL DEFAULT now(),
        head_seq bigint NOT NULL,
        shipped_seq bigint NOT NULL,
        policy_digest text,
        version text NOT NULL
      );
      CREATE INDEX heartbeats_host ON ${S}.heartbeats (host_id, id DESC);
      -- What a host's shipper found that it would not paper over: a different hash for a shipped seq, a break in the
      -- chain, another key for its host ID.
      CREATE TABLE ${S}.alarms (
        id bigserial PRIMARY KEY,
        host_id text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        kind text NOT NULL,
        seq bigint,
        detail text NOT NULL
      );
      -- Row-level security: a host's login writes and reads only its own host's rows, so a host given its own login
      -- (one per host, each a member of the ingest role) cannot write history under another host's ID. Reviewers
      -- read everything. The owner (init-db) is not subject to the policies.
      CREATE FUNCTION ${S}.own_host(id text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS 'SELECT EXISTS (SELECT 1 FROM ${S}.hosts WHERE host_id = id AND db_user = session_user)';
      ALTER TABLE ${S}.hosts ENABLE ROW LEVEL SECURITY;
      CREATE POLICY ingest_register ON ${S}.hosts FOR INSERT TO ${INGEST_ROLE} WITH CHECK (db_user = session_user);
      CREATE POLICY ingest_read ON ${S}.hosts FOR SELECT TO ${INGEST_ROLE} USING (true);
      CREATE POLICY reader_read ON ${S}.hosts FOR SELECT TO ${READER_ROLE} USING (true);
      ${ownRowsOnly(['records', 'checkpoints', 'heartbeats', 'alarms'])}
    `
  },
  {
    version: 2,
    description: 'signed policy revisions, announced on a channel',
    sql: `
      -- Each published policy: its exact bytes and the signed envelope that binds them (sha256), the revision, the
      -- publisher and time. Hosts only read it; publishers only add to it.
      CREATE TABLE ${S}.policy_revisions (
        revision bigint PRIMARY KEY CHECK (revision >= 1),
        policy bytea NOT NULL,
        envelope text NOT NULL,
        signature text NOT NULL,
        key_id text NOT NULL,
        publisher text NOT NULL,
        published_at timestamptz NOT NULL,
        rollback boolean NOT NULL DEFAULT false
      );
      CREATE FUNCTION ${S}.announce_policy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${POLICY_CHANNEL}', NEW.revision::text);
        RETURN NEW;
      END $$;
      CREATE TRIGGER policy_revisions_announce AFTER INSERT ON ${S}.policy_revisions
        FOR EACH ROW EXECUTE FUNCTION ${S}.announce_policy();
      -- The revision a host runs, beside its policy digest (null for a host whose policy is a local file).
      ALTER TABLE ${S}.heartbeats ADD COLUMN policy_revision bigint;
    `
  },
  {
    version: 3,
    description: 'session recordings, in chunks at their byte offsets, and the hosts\' reports of what is not shipped yet',
    sql: `
      -- Each session's recording file (recordings/<session>.rec on the host) as the host holds it, in pieces at their
      -- offsets: a piece once in the database is never changed, so what a host shipped mid-session outlives the host.
      -- The session.end record (in records) carries the file's size and sha256; fleet verify checks the pieces
      -- against it.
      CREATE TABLE ${S}.recording_chunks (
        host_id text NOT NULL REFERENCES ${S}.hosts,
        session_id text NOT NULL CHECK (session_id ~ '^s-[0-9a-f]{16}$'),
        byte_offset bigint NOT NULL CHECK (byte_offset >= 0),
        bytes bytea NOT NULL CHECK (length(bytes) > 0),
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host_id, session_id, byte_offset)
      );
      -- What a host's recording shipper last said: bytes durable there and not yet here, running sessions included.
      CREATE TABLE ${S}.recording_reports (
        id bigserial PRIMARY KEY,
        host_id text NOT NULL REFERENCES ${S}.hosts,
        at timestamptz NOT NULL DEFAULT now(),
        lag_bytes bigint NOT NULL CHECK (lag_bytes >= 0),
        pending integer NOT NULL CHECK (pending >= 0)
      );
      CREATE INDEX recording_reports_host ON ${S}.recording_reports (host_id, id DESC);
      ${ownRowsOnly(['recording_chunks', 'recording_reports'])}
    `
  },
  {
    version: 4,
    description: 'alarms name the login that raised them; a host may raise a host-key alarm on an ID another login registered',
    sql: `
      -- A host whose ID another login registered first (squatting: host IDs are not secret) may write nothing under
      -- it, but it must be able to say so where reviewers look: a host-key alarm on any ID. Every alarm names the
      -- login that wrote it, set by the database and not by the writer, so a false alarm names its author too.
      -- Rows from before this migration keep a null author.
      ALTER TABLE ${S}.alarms ADD COLUMN reported_by name;
      CREATE FUNCTION ${S}.alarm_author() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.reported_by := session_user;
        RETURN NEW;
      END $$;
      CREATE TRIGGER alarms_author BEFORE INSERT ON ${S}.alarms FOR EACH ROW EXECUTE FUNCTION ${S}.alarm_author();
      CREATE POLICY ingest_report_host_key ON ${S}.alarms FOR INSERT TO ${INGEST_ROLE}
        WITH CHECK (kind = 'host-key' AND seq IS NULL AND NOT ${S}.own_host(host_id) AND length(detail) <= 1000);
    `
  }
]

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version

/** The statements that make the schema itself, the migrations table and the three roles (each only if missing). */
export const BOOTSTRAP_SQL = `
  CREATE SCHEMA IF NOT EXISTS ${S};
  CREATE TABLE IF NOT EXISTS ${S}.schema_migrations (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
  DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${INGEST_ROLE}') THEN CREATE ROLE ${INGEST_ROLE} NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${READER_ROLE}') THEN CREATE ROLE ${READER_ROLE} NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PUBLISHER_ROLE}') THEN CREATE ROLE ${PUBLISHER_ROLE} NOLOGIN; END IF;
  END $$;
`

/** Run after every migration: the grants, stated whole, so a later table is covered the day it is made. */
export const GRANTS_SQL = `
  REVOKE ALL ON ALL TABLES IN SCHEMA ${S} FROM PUBLIC;
  GRANT USAGE ON SCHEMA ${S} TO ${INGEST_ROLE}, ${READER_ROLE}, ${PUBLISHER_ROLE};
  REVOKE ALL ON ALL TABLES IN SCHEMA ${S} FROM ${INGEST_ROLE}, ${PUBLISHER_ROLE};
  GRANT SELECT ON ${S}.hosts, ${S}.records, ${S}.checkpoints, ${S}.heartbeats, ${S}.alarms, ${S}.recording_chunks, ${S}.recording_reports TO ${INGEST_ROLE};
  -- Hosts insert only the columns they are the source of; the database sets the rest (row ids, receipt and
  -- registration times, the registering login), so no host can take an id ahead of a sequence (making another host's
  -- next insert fail, or its own row the newest), backdate a receipt, or name another login.
  GRANT INSERT (host_id, name, key_id, public_key) ON ${S}.hosts TO ${INGEST_ROLE};
  GRANT INSERT (host_id, seq, time, kind, user_name, project, action, decision, hash, prev_hash, body) ON ${S}.records TO ${INGEST_ROLE};
  GRANT INSERT (host_id, seq, body) ON ${S}.checkpoints TO ${INGEST_ROLE};
  GRANT INSERT (host_id, head_seq, shipped_seq, policy_digest, policy_revision, version) ON ${S}.heartbeats TO ${INGEST_ROLE};
  GRANT INSERT (host_id, kind, seq, detail) ON ${S}.alarms TO ${INGEST_ROLE};
  GRANT INSERT (host_id, session_id, byte_offset, bytes) ON ${S}.recording_chunks TO ${INGEST_ROLE};
  GRANT INSERT (host_id, lag_bytes, pending) ON ${S}.recording_reports TO ${INGEST_ROLE};
  GRANT SELECT ON ${S}.schema_migrations, ${S}.policy_revisions TO ${INGEST_ROLE};
  GRANT SELECT, INSERT ON ${S}.policy_revisions TO ${PUBLISHER_ROLE};
  GRANT SELECT ON ${S}.schema_migrations TO ${PUBLISHER_ROLE};
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${S} TO ${INGEST_ROLE};
  REVOKE ALL ON FUNCTION ${S}.own_host(text) FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION ${S}.own_host(text) TO ${INGEST_ROLE};
  GRANT SELECT ON ALL TABLES IN SCHEMA ${S} TO ${READER_ROLE};
`
