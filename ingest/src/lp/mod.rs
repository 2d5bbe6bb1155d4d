//! Line-protocol decoding (filled in by the decoder work).
