/// Text output on the machine's UART, written byte by byte (no `String` needed).
enum Console {
  /// Writes static text.
  static func write(_ text: StaticString) {
    text.withUTF8Buffer { bytes in
      for index in 0..<bytes.count { Machine.putByte(unsafe bytes[index]) }
    }
  }

  /// Writes `value` in lowercase hex without leading zeros.
  static func hex(_ value: UInt64) {
    var shift = 60
    while shift > 0 && value >> UInt64(shift) == 0 { shift -= 4 }
    while shift >= 0 {
      let digit = UInt8(truncatingIfNeeded: value >> UInt64(shift) & 0xF)
      Machine.putByte(digit < 10 ? 0x30 + digit : 0x57 + digit)
      shift -= 4
    }
  }

  /// Writes a byte.
  static func byte(_ byte: UInt8) { Machine.putByte(byte) }
}

/// `print` in Embedded Swift ends in `putchar`, which the C runtime forwards here.
@_cdecl("uart_putc")
func uartPutCharacter(_ character: UInt8) {
  Machine.putByte(character)
}

/// Called by the start stub for an exception no probe expected: report and stop.
@_cdecl("guest_unexpected_exception")
func unexpectedException(_ cause: UInt64, _ programCounter: UInt64, _ address: UInt64) {
  Console.write("\nPTCRASH cause=")
  Console.hex(cause)
  Console.write(" pc=")
  Console.hex(programCounter)
  Console.write(" address=")
  Console.hex(address)
  Console.write("\n")
  Machine.exit(3)
}
