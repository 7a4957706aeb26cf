-- Replay protection: one row per token (or proof) id still within its validity, keyed by the ReplayKey
-- digest (which already separates SAML assertions, JWTs and the kinds to come). `until` is compared with the
-- deciding instance's clock, passed in as a parameter.
CREATE TABLE replay (
  key bytea PRIMARY KEY CHECK (octet_length(key) = 32),
  until timestamptz NOT NULL
);
CREATE INDEX replay_by_until ON replay (until);

-- The access log: the same columns, in the same order, as the SQLite store (src/audit/columns.rs), each
-- record hash-chained to the one before (src/audit/chain.rs). Names are quoted: "authorization" is reserved.
CREATE TABLE audit_record (
  seq bigint PRIMARY KEY,
  "time" text NOT NULL,
  "time_ms" bigint NOT NULL,
  "request_id" text NOT NULL,
  "direction" text NOT NULL,
  "outcome" text NOT NULL,
  "error_class" text,
  "error" text,
  "input_issuer" text,
  "input_token_id" text,
  "output_token_id" text,
  "output_audience" text,
  "output_expires" text,
  "profile" text,
  "client_address" text,
  "practitioner_id" text,
  "practitioner_name" text,
  "hpr_nr" text,
  "authorization" text,
  "legal_entity_id" text,
  "legal_entity_name" text,
  "point_of_care_id" text,
  "point_of_care_name" text,
  "department_id" text,
  "department_name" text,
  "purpose_of_use" text,
  "healthcare_service" text,
  "healthcare_service_original" text,
  "fastlege_rule" text,
  "register_answer" text,
  "purpose_of_use_details" text,
  "decision_ref_id" text,
  "decision_ref_user_selected" bigint,
  "patient_id" text,
  "record_json" text NOT NULL,
  "client_id" text,
  "client_auth" text,
  "dpop_jkt" text,
  "client_cert_thumbprint" text,
  "actor_issuer" text,
  "actor_subject" text,
  "soap_action" text,
  "proxy_route" text,
  "upstream_status" bigint,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  -- The chain format the record was hashed in (src/audit/chain.rs): a log moved here from SQLite keeps
  -- records of an older format, hashed over that format's columns.
  chain_format smallint NOT NULL DEFAULT 3
);
CREATE INDEX audit_by_patient ON audit_record (patient_id, time_ms);
CREATE INDEX audit_by_practitioner ON audit_record (practitioner_id, time_ms);
CREATE INDEX audit_by_hpr ON audit_record (hpr_nr, time_ms);
CREATE INDEX audit_by_time ON audit_record (time_ms);
CREATE INDEX audit_by_output_token ON audit_record (output_token_id);

-- The chain's head: the last record's number and hash. Every commit locks this row (FOR UPDATE) before it
-- reads it, so the instances append one after another and the chain never forks. It also tells verification
-- where the chain ends, so records cut from its end are found.
CREATE TABLE audit_head (
  id integer PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

-- After pruning: the last pruned record, so the first kept one still links to something known.
CREATE TABLE audit_anchor (
  id integer PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL,
  pruned_at text NOT NULL
);

-- /readyz writes here after a failed commit, to prove the database takes durable writes again.
CREATE TABLE readiness_probe (
  id integer PRIMARY KEY CHECK (id = 1),
  at text NOT NULL
);
