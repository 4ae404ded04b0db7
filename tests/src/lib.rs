//! Shared harness for the system tests.
