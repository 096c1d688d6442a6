-- +migrate Up
CREATE TYPE fulfillment_task_type AS ENUM (
    'instagram_setup', 'follower_growth', 'engagement_boost', 'content_promotion',
    'analytics_collection', 'campaign_optimization', 'manual');
CREATE TYPE fulfillment_task_status AS ENUM (
    'pending', 'in_progress', 'completed', 'failed', 'canceled', 'parked');

CREATE TABLE fulfillment_tasks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_item_id    uuid NOT NULL REFERENCES order_items(id) ON DELETE CASCADE,
    task_type        fulfillment_task_type NOT NULL,
    -- http, smm_panel or manual; manual tasks are never claimed by the worker.
    execution_kind   text NOT NULL DEFAULT 'manual',
    status           fulfillment_task_status NOT NULL DEFAULT 'pending',
    title            text NOT NULL,
    description      text,
    payload          jsonb NOT NULL DEFAULT '{}',
    -- The execution block as configured, kept unrendered until the task runs.
    execution        jsonb,
    -- Executor state that survives attempts (e.g. the SMM panel's order id).
    state            jsonb NOT NULL DEFAULT '{}',
    result           jsonb,
    error_message    text,
    retry_count      integer NOT NULL DEFAULT 0,
    max_retries      integer NOT NULL DEFAULT 3,
    scheduled_at     timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    -- Claiming: the worker holding the lease, until when, and the claim number
    -- that every state change must present.
    lease_owner      text,
    lease_expires_at timestamptz,
    attempt          integer NOT NULL DEFAULT 0,
    history          jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfillment_tasks_order_item_id_idx ON fulfillment_tasks (order_item_id);
-- Due tasks, as the claim query reads them.
CREATE INDEX fulfillment_tasks_due_idx ON fulfillment_tasks (scheduled_at)
    WHERE status = 'pending' AND execution_kind <> 'manual';
-- Expired leases, as the rescuer reads them.
CREATE INDEX fulfillment_tasks_lease_idx ON fulfillment_tasks (lease_expires_at)
    WHERE status = 'in_progress';

-- +migrate Down
DROP TABLE fulfillment_tasks;
DROP TYPE fulfillment_task_status;
DROP TYPE fulfillment_task_type;
