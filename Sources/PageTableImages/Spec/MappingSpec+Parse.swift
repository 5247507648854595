import PageTables
import Yams

extension MappingSpec {
  /// Reads a spec from JSON or YAML text (JSON is read as the YAML it also is, so
  /// both report errors with the line they are on).
  ///
  /// - Parameters:
  ///   - text: the spec.
  ///   - name: the file name errors are reported with.
  /// - Throws: ``ImageError/spec(file:line:field:message:)`` naming the line and
  ///   field; ``ImageError/format(_:)`` errors are reported the same way.
  public static func parse(_ text: String, name: String = "spec") throws(ImageError) -> MappingSpec
  {
    let root: Node
    do {
      guard let node = try Yams.compose(yaml: text) else {
        throw ImageError.spec(
          file: name, line: 1, field: "(document)", message: "the spec is empty")
      }
      root = node
    } catch let error as ImageError {
      throw error
    } catch let error as YamlError {
      throw ImageError.spec(
        file: name, line: Self.line(of: error), field: "(syntax)", message: Self.problem(of: error))
    } catch {
      throw ImageError.spec(file: name, line: 0, field: "(syntax)", message: "\(error)")
    }
    return try SpecReader(file: name).spec(root)
  }

  static func line(of error: YamlError) -> Int {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
      mark.line
    default: 0
    }
  }

  static func problem(of error: YamlError) -> String {
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
      .composer(let context, let problem, _, _):
      context.map { "\($0.text) \(problem)" } ?? problem
    default: "\(error)"
    }
  }
}

/// Turns a composed YAML document into a ``MappingSpec``, naming the field and line
/// of whatever is wrong.
struct SpecReader {
  let file: String

  func fail(_ node: Node?, _ field: String, _ message: String) -> ImageError {
    .spec(file: file, line: node?.mark?.line ?? 0, field: field, message: message)
  }

  /// The mapping's entries by key, refusing keys outside `allowed`.
  func fields(_ node: Node, _ field: String, allowed: [String]) throws(ImageError) -> [String: Node]
  {
    guard let mapping = node.mapping else { throw fail(node, field, "expected a mapping") }
    var result: [String: Node] = [:]
    for (key, value) in mapping {
      guard let name = key.string else { throw fail(key, field, "keys must be text") }
      let path = field.isEmpty ? name : "\(field).\(name)"
      guard allowed.contains(name) else {
        throw fail(key, path, "unknown field (expected one of: \(allowed.joined(separator: ", ")))")
      }
      guard result[name] == nil else { throw fail(key, path, "appears twice") }
      result[name] = value
    }
    return result
  }

  func scalar(_ node: Node, _ field: String) throws(ImageError) -> String {
    guard let scalar = node.scalar else { throw fail(node, field, "expected a single value") }
    return scalar.string
  }

  func address(_ node: Node?, _ field: String, parent: Node) throws(ImageError) -> UInt64 {
    guard let node else { throw fail(parent, field, "missing") }
    let text = try scalar(node, field)
    guard let value = NumberParsing.address(text) else {
      throw fail(node, field, "not an address: \"\(text)\"")
    }
    return value
  }

  func size(_ node: Node, _ field: String) throws(ImageError) -> UInt64 {
    let text = try scalar(node, field)
    guard let value = NumberParsing.size(text), value > 0 else {
      throw fail(node, field, "not a size: \"\(text)\"")
    }
    return value
  }

  func spec(_ root: Node) throws(ImageError) -> MappingSpec {
    let top = try fields(
      root, "", allowed: ["format", "configuration", "base", "size", "regions"])
    guard let formatNode = top["format"] else { throw fail(root, "format", "missing") }
    var options: [String: String] = [:]
    if let configuration = top["configuration"] {
      guard let mapping = configuration.mapping else {
        throw fail(configuration, "configuration", "expected a mapping")
      }
      for (key, value) in mapping {
        guard let name = key.string else { throw fail(key, "configuration", "keys must be text") }
        options[name] = try scalar(value, "configuration.\(name)")
      }
    }
    let format: FormatDescriptor
    do {
      format = try FormatDescriptor(family: scalar(formatNode, "format"), options: options)
      _ = try format.resolve()
    } catch {
      let field = top["configuration"] == nil ? "format" : "configuration"
      guard case .format(let message) = error else { throw error }
      throw fail(top[field], field, message)
    }
    let base = try address(top["base"], "base", parent: root)
    let capacity = try top["size"].map { node throws(ImageError) in try size(node, "size") }
    guard let regionsNode = top["regions"] else { throw fail(root, "regions", "missing") }
    guard let sequence = regionsNode.sequence else {
      throw fail(regionsNode, "regions", "expected a list")
    }
    var regions: [MappingSpec.Region] = []
    for (index, node) in sequence.enumerated() {
      regions.append(try region(node, "regions[\(index)]"))
    }
    return MappingSpec(
      format: format, base: base, capacity: capacity ?? MappingSpec.defaultCapacity,
      regions: regions)
  }

  func region(_ node: Node, _ field: String) throws(ImageError) -> MappingSpec.Region {
    let entries = try fields(
      node, field, allowed: ["name", "va", "pa", "size", "protection", "memory"])
    let va = try address(entries["va"], "\(field).va", parent: node)
    let pa = try address(entries["pa"], "\(field).pa", parent: node)
    guard let sizeNode = entries["size"] else { throw fail(node, "\(field).size", "missing") }
    let bytes = try size(sizeNode, "\(field).size")
    var memoryType = MemoryType.normal
    if let memoryNode = entries["memory"] {
      let text = try scalar(memoryNode, "\(field).memory")
      guard let type = NumberParsing.memoryType(text) else {
        throw fail(memoryNode, "\(field).memory", "\"\(text)\" is not normal, uncached or device")
      }
      memoryType = type
    }
    guard let protectionNode = entries["protection"] else {
      throw fail(node, "\(field).protection", "missing")
    }
    let letters = try scalar(protectionNode, "\(field).protection")
    guard let protection = NumberParsing.protection(letters, memoryType: memoryType) else {
      throw fail(
        protectionNode, "\(field).protection", "\"\(letters)\" is not letters from r, w, x, u, g")
    }
    return MappingSpec.Region(
      virtualAddress: va, physicalAddress: pa, size: bytes, protection: protection,
      line: node.mark?.line ?? 0)
  }
}
