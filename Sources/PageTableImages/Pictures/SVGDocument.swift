/// A small SVG writer: escaped text, fixed number formatting, elements in the
/// order they are added (so the same picture gives the same bytes).
struct SVGDocument {
  let width: Int
  let height: Int
  var body: [String] = []

  init(width: Int, height: Int) {
    self.width = width
    self.height = height
  }

  static func escape(_ text: String) -> String {
    var escaped = ""
    for character in text {
      switch character {
      case "&": escaped += "&amp;"
      case "<": escaped += "&lt;"
      case ">": escaped += "&gt;"
      case "\"": escaped += "&quot;"
      default: escaped.append(character)
      }
    }
    return escaped
  }

  static func number(_ value: Double) -> String {
    let rounded = (value * 100).rounded() / 100
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
  }

  mutating func rect(
    x: Double, y: Double, width: Double, height: Double, fill: String, title: String? = nil,
    stroke: String? = nil, cssClass: String? = nil
  ) {
    var element =
      "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"\(fill)\""
    if let stroke { element += " stroke=\"\(stroke)\" stroke-width=\"1\"" }
    if let cssClass { element += " class=\"\(cssClass)\"" }
    if let title {
      element += "><title>\(Self.escape(title))</title></rect>"
    } else {
      element += "/>"
    }
    body.append(element)
  }

  mutating func text(_ text: String, x: Double, y: Double, size: Int = 12, anchor: String = "start")
  {
    body.append(
      "<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-family=\"sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" fill=\"#222222\">\(Self.escape(text))</text>"
    )
  }

  mutating func line(
    x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, dashed: Bool = false
  ) {
    body.append(
      "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"1\"\(dashed ? " stroke-dasharray=\"3,2\"" : "")/>"
    )
  }

  func rendered() -> String {
    ([
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">",
      "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>",
    ]
      + body + ["</svg>"]).joined(separator: "\n") + "\n"
  }
}

/// An RGB colour, with shading toward white.
public struct RGB: Hashable, Sendable {
  /// Red, 0...255.
  public var red: UInt8
  /// Green, 0...255.
  public var green: UInt8
  /// Blue, 0...255.
  public var blue: UInt8

  /// Makes one from its parts.
  public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
    self.red = red
    self.green = green
    self.blue = blue
  }

  /// The colour mixed with white: `amount` 0 keeps it, 1 gives white.
  public func lightened(_ amount: Double) -> RGB {
    func mix(_ c: UInt8) -> UInt8 { UInt8((Double(c) + (255 - Double(c)) * amount).rounded()) }
    return RGB(mix(red), mix(green), mix(blue))
  }

  /// `#rrggbb`.
  public var hex: String {
    let digits = [red, green, blue].map { value -> String in
      let text = String(value, radix: 16)
      return text.count == 1 ? "0" + text : text
    }
    return "#" + digits.joined()
  }
}
