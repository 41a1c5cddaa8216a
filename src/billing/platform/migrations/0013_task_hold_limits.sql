-- A task's hold ends without its agent too: the handling limit (accepted) and the wrap-up limit (wrapping) are
-- enforced by the queue sweeper, a supervisor may release or reassign a task, and revoking an agent returns its
-- tasks (streams/care/task_states.py). A task may therefore be answered more than once; first_accepted_at keeps
-- the end of the caller's first wait (accepted_at is the current agent's), so waits and the service metrics count
-- the answer once.
ALTER TABLE tasks ADD COLUMN first_accepted_at timestamptz;
UPDATE tasks SET first_accepted_at = accepted_at WHERE accepted_at IS NOT NULL;

-- The sweeper's look-ups of holds that ran out, like tasks_reserved_lease for offers.
CREATE INDEX tasks_accepted_since ON tasks (accepted_at) WHERE state = 'accepted';
CREATE INDEX tasks_wrapping_since ON tasks (wrapping_at) WHERE state = 'wrapping';
