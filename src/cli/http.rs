//! HTTP client helpers for the CLI (in progress)
