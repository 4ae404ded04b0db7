//! Hardware tools for refurbishment workshops (filled by the hardware issue).
