/// True when `bytes` starts with `lowered` (lower-case ASCII, e.g. `"x-uidl:"`), ASCII letters
/// compared without case: how header field names are matched in an mbox.
func hasASCIIPrefix(_ bytes: some Collection<UInt8>, _ lowered: String) -> Bool {
    guard bytes.count >= lowered.utf8.count else { return false }
    return zip(bytes, lowered.utf8).allSatisfy { a, b in (a >= 0x41 && a <= 0x5A ? a + 0x20 : a) == b }
}
