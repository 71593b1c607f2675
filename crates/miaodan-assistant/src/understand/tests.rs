//! Whole messages understood, in both languages.
