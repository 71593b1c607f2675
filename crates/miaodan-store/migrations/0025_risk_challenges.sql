-- Version 25: risk's step-up. A challenge is opened when risk answers a buyer's tap or checkout
-- `428 risk_challenge`; the buyer answers the human check it carries, and a right answer gives
-- them a pass that lets their next challenged request through as a review.
--
-- `kind` is the request that was challenged (`tap`, `checkout` or `payment`), `flash_sale` its sale (NULL
-- for a checkout). `check_state` is what the human check needs to verify an answer, written and
-- read only by its adapter (the simulator keeps a salt and a digest, never the answer); the
-- prompts are kept so that a second refusal answers the same challenge. `state` is `open`,
-- `passed`, `failed` or `expired`. The partial unique index keeps at most one open challenge per
-- buyer: a bot hammering the tap finds its open challenge instead of filling the table.
-- A stepped-up decision (a challenge let through as a review because its buyer held a pass) is
-- marked in `risk_decisions.stepped_up`.

CREATE TABLE IF NOT EXISTS risk_challenges (
    id {ID} PRIMARY KEY,
    buyer_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    flash_sale BIGINT,
    check_state TEXT NOT NULL,
    prompt_en TEXT NOT NULL,
    prompt_zh TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    passed_at_ms BIGINT,
    pass_until_ms BIGINT);

CREATE UNIQUE INDEX IF NOT EXISTS risk_challenges_one_open ON risk_challenges (buyer_id) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS risk_challenges_by_buyer ON risk_challenges (buyer_id, id);

ALTER TABLE risk_decisions ADD COLUMN stepped_up BIGINT NOT NULL DEFAULT 0;
