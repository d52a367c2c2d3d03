//! rumor
