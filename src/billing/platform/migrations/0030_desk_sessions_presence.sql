-- Issue 15, the agent desk and the supervisor wall. Numbered 0030 on purpose: other branches add 0018 and up,
-- and migrations apply in order of their number, so this one stays last whatever lands before it.

-- A desk sign-in: the browser holds a random session id in an HttpOnly cookie; only its SHA-256 is kept here,
-- with the synchronizer CSRF token the pages send back on every unsafe request.
CREATE TABLE desk_sessions (
    session_hash text        PRIMARY KEY,
    agent_id     text        NOT NULL REFERENCES agents (agent_id),
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX desk_sessions_expiry ON desk_sessions (expires_at);

-- Presence: an agent's state now (no row: an API client that never used the desk, offered tasks as before).
CREATE TABLE agent_presence (
    agent_id text        PRIMARY KEY REFERENCES agents (agent_id),
    state    text        NOT NULL CHECK (state IN ('available', 'busy', 'wrap_up', 'offline')),
    since    timestamptz NOT NULL
);

-- Every finished spell in a state, so time per state is a sum (the wall, occupancy, per-agent reports).
CREATE TABLE agent_presence_spells (
    agent_id   text        NOT NULL REFERENCES agents (agent_id),
    state      text        NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    PRIMARY KEY (agent_id, started_at, state)
);
CREATE INDEX agent_presence_spells_ended ON agent_presence_spells (ended_at);
