//! A conversation across turns: slots filled over several messages, a confirmation before
//! anything changes, answers in the buyer's language, the hand-over to a person.
