import PageTables

/// One way the guest can access an address, and what the architecture's rules
/// say it may do with a mapping's protection.
public struct ProbeKind: Hashable, Sendable {
  /// How the access is made.
  public enum Mechanism: Hashable, Sendable {
    /// An address-translation instruction (ARM `AT`): reports the physical address
    /// or the fault without taking it.
    case addressTranslation
    /// A real 8-byte load (the value read back checks the physical address).
    case load
    /// A real 8-byte store.
    case store
  }

  /// Who accesses.
  public enum Privilege: Hashable, Sendable {
    /// The kernel, allowed to touch user pages too (ARM EL1 with PAN clear, x86
    /// CPL 0 with EFLAGS.AC set, ARM stage 2).
    case kernel
    /// The kernel, refused on user pages (RISC-V S-mode without SUM, x86 with SMAP).
    case kernelWithoutUserAccess
    /// The less privileged mode (ARM EL0, RISC-V U-mode).
    case user
  }

  /// The guest's number for this kind (a bit in a probe's kind mask).
  public let guestKind: Int
  /// A short name for reports, such as `AT S1E0W`.
  public let name: String
  /// How the guest accesses the address.
  public let mechanism: Mechanism
  /// Whether the access writes (else it reads).
  public let write: Bool
  /// The privilege the access is made with.
  public let privilege: Privilege

  /// Whether `protection` allows this access.
  public func permits(_ protection: Protection) -> Bool {
    let allowed = write ? protection.write : protection.read
    switch privilege {
    case .kernel: return allowed
    case .kernelWithoutUserAccess: return allowed && !protection.user
    case .user: return allowed && protection.user
    }
  }

  // ARM64 (Examples/BareMetal/aarch64/Machine.swift).
  static let atS1E1R = ProbeKind(
    guestKind: 0, name: "AT S1E1R", mechanism: .addressTranslation, write: false, privilege: .kernel
  )
  static let atS1E1W = ProbeKind(
    guestKind: 1, name: "AT S1E1W", mechanism: .addressTranslation, write: true, privilege: .kernel)
  static let atS1E0R = ProbeKind(
    guestKind: 2, name: "AT S1E0R", mechanism: .addressTranslation, write: false, privilege: .user)
  static let atS1E0W = ProbeKind(
    guestKind: 3, name: "AT S1E0W", mechanism: .addressTranslation, write: true, privilege: .user)
  static let el1Load = ProbeKind(
    guestKind: 4, name: "EL1 load", mechanism: .load, write: false, privilege: .kernel)
  static let el1Store = ProbeKind(
    guestKind: 5, name: "EL1 store", mechanism: .store, write: true, privilege: .kernel)
  static let atS12E1R = ProbeKind(
    guestKind: 6, name: "AT S12E1R", mechanism: .addressTranslation, write: false,
    privilege: .kernel)
  static let atS12E1W = ProbeKind(
    guestKind: 7, name: "AT S12E1W", mechanism: .addressTranslation, write: true,
    privilege: .kernel)

  // RISC-V (Examples/BareMetal/riscv64/Machine.swift).
  static let mprvSupervisorLoad = ProbeKind(
    guestKind: 0, name: "S load (MPRV)", mechanism: .load, write: false,
    privilege: .kernelWithoutUserAccess)
  static let mprvSupervisorStore = ProbeKind(
    guestKind: 1, name: "S store (MPRV)", mechanism: .store, write: true,
    privilege: .kernelWithoutUserAccess)
  static let mprvUserLoad = ProbeKind(
    guestKind: 2, name: "U load (MPRV)", mechanism: .load, write: false, privilege: .user)
  static let mprvUserStore = ProbeKind(
    guestKind: 3, name: "U store (MPRV)", mechanism: .store, write: true, privilege: .user)
  static let supervisorLoad = ProbeKind(
    guestKind: 4, name: "S load", mechanism: .load, write: false,
    privilege: .kernelWithoutUserAccess)
  static let supervisorStore = ProbeKind(
    guestKind: 5, name: "S store", mechanism: .store, write: true,
    privilege: .kernelWithoutUserAccess)

  // x86-64 (Examples/BareMetal/x86_64/Machine.swift).
  static let kernelLoad = ProbeKind(
    guestKind: 0, name: "CPL0 load (AC=1)", mechanism: .load, write: false, privilege: .kernel)
  static let kernelStore = ProbeKind(
    guestKind: 1, name: "CPL0 store (AC=1)", mechanism: .store, write: true, privilege: .kernel)
  static let smapLoad = ProbeKind(
    guestKind: 2, name: "CPL0 load (SMAP)", mechanism: .load, write: false,
    privilege: .kernelWithoutUserAccess)
}

/// What the library's `translate` says a probe must find.
public enum ExpectedOutcome: Hashable, Sendable {
  /// The access translates to this physical address (ARM `AT`; with the MAIR
  /// attribute byte when the memory type can be checked).
  case translates(physicalAddress: UInt64, attribute: UInt8?)
  /// The load returns this tag (written at the expected physical address).
  case loads(UInt64)
  /// The load translates, but to memory that holds no tag: any value, or (RISC-V)
  /// an access fault from a physical address with no RAM behind it.
  case loadsUntagged
  /// The store completes.
  case stores
  /// The access faults because nothing is mapped (or the address is outside the
  /// translated range).
  case faultsUnmapped
  /// The access faults on the mapping's permissions.
  case faultsOnPermission
}

/// What the guest saw, decoded from its output and the architecture's fault codes.
public enum ObservedOutcome: Hashable, Sendable {
  /// An address translation instruction (`AT`) answered with a physical address and
  /// its memory attribute.
  case translated(physicalAddress: UInt64, attribute: UInt8)
  /// A load completed and read this value.
  case loaded(UInt64)
  /// A store completed.
  case stored
  /// A translation fault (nothing mapped, address out of range).
  case unmappedFault(address: UInt64?)
  /// A permission fault.
  case permissionFault(address: UInt64?)
  /// A page fault the architecture does not classify further (RISC-V).
  case pageFault(address: UInt64?)
  /// The address translated but no memory answered (RISC-V access fault).
  case accessFault
  /// Anything else (an access-flag fault, an unexpected cause); `code` is raw.
  case otherFault(code: UInt64)
  /// The guest printed something that does not parse.
  case unreadable(String)

  /// Decodes one token of a probe line for `architecture`.
  static func decode(_ token: Substring, architecture: GuestMachine.Architecture)
    -> ObservedOutcome
  {
    guard let tag = token.first else { return .unreadable(String(token)) }
    let body = token.dropFirst()
    switch tag {
    case "p":
      guard let par = UInt64(body, radix: 16) else { return .unreadable(String(token)) }
      if par & 1 == 0 {
        return .translated(
          physicalAddress: par & 0x000F_FFFF_FFFF_F000, attribute: UInt8(par >> 56))
      }
      return armFault(statusCode: par >> 1 & 0x3F, address: nil, raw: par)
    case "v":
      guard let value = UInt64(body, radix: 16) else { return .unreadable(String(token)) }
      return .loaded(value)
    case "w":
      return .stored
    case "f":
      let parts = body.split(separator: "@")
      guard parts.count == 2, let code = UInt64(parts[0], radix: 16),
        let address = UInt64(parts[1], radix: 16)
      else { return .unreadable(String(token)) }
      switch architecture {
      case .aarch64:
        // ESR: a data abort (EC 0x24/0x25) carries the fault status in DFSC.
        let exceptionClass = code >> 26
        guard exceptionClass == 0x24 || exceptionClass == 0x25 else {
          return .otherFault(code: code)
        }
        return armFault(statusCode: code & 0x3F, address: address, raw: code)
      case .riscv64:
        switch code {
        case 13, 15: return .pageFault(address: address)
        case 5, 7: return .accessFault
        default: return .otherFault(code: code)
        }
      case .x86_64:
        let vector = code >> 32
        if vector == 13 { return .unmappedFault(address: nil) }  // non-canonical: #GP
        guard vector == 14 else { return .otherFault(code: code) }
        return code & 1 == 0
          ? .unmappedFault(address: address) : .permissionFault(address: address)
      }
    default:
      return .unreadable(String(token))
    }
  }

  /// An ARM fault status code (PAR_EL1.FST or ESR.DFSC): bits [5:2] give the type.
  static func armFault(statusCode: UInt64, address: UInt64?, raw: UInt64) -> ObservedOutcome {
    // FEAT_LPA2 adds level −1: 0b101011 translation, 0b101001 address size fault.
    if statusCode == 0b10_1011 || statusCode == 0b10_1001 {
      return .unmappedFault(address: address)
    }
    switch statusCode >> 2 {
    case 0b0000, 0b0001: return .unmappedFault(address: address)  // address size, translation
    case 0b0011: return .permissionFault(address: address)
    default: return .otherFault(code: raw)
    }
  }

  /// Whether this observation is what `expected` asks for, for a probe of the
  /// (8-byte aligned) address `address`.
  func satisfies(_ expected: ExpectedOutcome, address: UInt64) -> Bool {
    func faultAt(_ reported: UInt64?) -> Bool { reported == nil || reported == address }
    switch (expected, self) {
    case (.translates(let physical, let attribute), .translated(let seen, let seenAttribute)):
      return physical & ~0xFFF == seen && (attribute == nil || attribute == seenAttribute)
    case (.loads(let value), .loaded(let seen)): return value == seen
    case (.loadsUntagged, .loaded), (.loadsUntagged, .accessFault): return true
    case (.stores, .stored): return true
    case (.faultsUnmapped, .unmappedFault(let reported)): return faultAt(reported)
    case (.faultsOnPermission, .permissionFault(let reported)): return faultAt(reported)
    case (.faultsUnmapped, .pageFault(let reported)),
      (.faultsOnPermission, .pageFault(let reported)):
      return faultAt(reported)
    default: return false
    }
  }
}
