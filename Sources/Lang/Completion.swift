import Foundation
import Runtime

extension Session {
    /// Tab completion for the text before the cursor: returns where the completed word
    /// starts (a character offset into `line`) and the candidates that replace it.
    /// - inside a string argument of explain(/metric(/dataset(/help(: plugin names;
    /// - inside `layer: "` of a call on a model variable: that model's layer names;
    /// - inside any other string: file paths;
    /// - a word inside a call: its named parameters (with the method's own, `steps: `) first;
    /// - after `name.`: the fields of that variable's value;
    /// - `:` at the start: commands; otherwise builtins, variables and keywords.
    public func completions(line: String, cursor: Int) -> (start: Int, candidates: [String]) {
        let chars = Array(line.prefix(cursor))
        // Find an open string: an odd number of unescaped quotes before the cursor.
        var inString = false, quoteAt = -1, i = 0
        while i < chars.count {
            if chars[i] == "\\" && inString { i += 2; continue }
            if chars[i] == "\"" { inString.toggle(); quoteAt = i }
            i += 1
        }
        if inString {
            let prefix = String(chars[(quoteAt + 1)...])
            // `layer: "` inside a call on a model: that model's layer names.
            let before = String(chars[..<quoteAt]).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
            if before.hasSuffix("layer:"), let call = openCall(Array(chars[..<quoteAt])), let graph = callModel(call.arguments) {
                var seen = Set<String>()
                let layers = graph.nodes.flatMap { [$0.name] + $0.outputs }.filter { !$0.isEmpty && seen.insert($0).inserted }
                return (quoteAt + 1, layers.filter { $0.hasPrefix(prefix) }.sorted())
            }
            let function = enclosingCall(Array(chars[..<quoteAt]))
            let reg = interpreter.registry
            let names: [String]?
            switch function {
            case "explain", "compare": names = reg.explainers.map(\.name)
            case "metric", "score": names = reg.metrics.map(\.name)
            case "dataset": names = reg.datasets.map(\.name)
            case "help": names = reg.explainers.map(\.name) + reg.metrics.map(\.name) + reg.datasets.map(\.name) + Builtins.names
            default: names = nil
            }
            if let names { return (quoteAt + 1, names.filter { $0.hasPrefix(prefix) }.sorted()) }
            return (quoteAt + 1, Session.paths(prefix))
        }
        var start = chars.count
        while start > 0, chars[start - 1].isLetter || chars[start - 1].isNumber || chars[start - 1] == "_" { start -= 1 }
        let word = String(chars[start...])
        if start == 1, chars[0] == ":" {
            return (0, Session.commands.map(\.0).filter { $0.hasPrefix(":" + word) })
        }
        if start == 0, word.isEmpty, chars.first == ":" { return (0, Session.commands.map(\.0)) }
        if start > 0, chars[start - 1] == "." {
            // Walk back over a dotted chain (maps.gradcam.) and look it up without running
            // anything: names and fields only, never calls.
            var b = start - 1
            while b > 0, chars[b - 1].isLetter || chars[b - 1].isNumber || chars[b - 1] == "_" || chars[b - 1] == "." { b -= 1 }
            let path = String(chars[b..<(start - 1)]).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard let first = path.first, var v = interpreter.globals.lookup(first) else { return (start, []) }
            for field in path.dropFirst() {
                guard let next = try? interpreter.member(v, field, at: SourceLocation(file: "", line: 0, column: 0)) else { return (start, []) }
                v = next
            }
            return (start, Interpreter.memberNames(of: v).filter { $0.hasPrefix(word) })
        }
        let vars = interpreter.globals.allNames.filter { $0 != "_" && $0 != "Out" }
        let all = Set(Builtins.names + vars + keywords)
        // Inside a call: its named parameters first (`steps:` of the method being called).
        let named = openCall(chars).map { argumentNames($0) }?.filter { $0.hasPrefix(word) && !word.isEmpty } ?? []
        return (start, named + all.filter { $0.hasPrefix(word) }.sorted())
    }

    /// The call whose argument list is open at the end of `chars`: its name and the text of its arguments so far.
    func openCall(_ chars: [Character]) -> (name: String, arguments: String)? {
        var depth = 0, i = chars.count - 1, inString = false
        while i >= 0 {
            let c = chars[i]
            if c == "\"" { inString.toggle() }
            else if !inString {
                if c == ")" || c == "]" || c == "}" { depth += 1 }
                else if c == "[" || c == "{" { if depth > 0 { depth -= 1 } }
                else if c == "(" {
                    if depth == 0 {
                        guard let name = enclosingCall(Array(chars[...i])) else { return nil }
                        return (name, String(chars[(i + 1)...]))
                    }
                    depth -= 1
                }
            }
            i -= 1
        }
        return nil
    }

    /// `name:` for the builtin's named parameters and, for explain/compare/metric/score, the
    /// parameters of the plugins named in quotes among the arguments.
    func argumentNames(_ call: (name: String, arguments: String)) -> [String] {
        guard let b = Builtins.table[call.name] else { return [] }
        let reg = interpreter.registry
        var names = b.params.map(\.name)
        for quoted in call.arguments.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter({ $0.offset % 2 == 1 }).map({ String($0.element) }) {
            if let e = try? reg.explainer(quoted), ["explain", "compare", "fit"].contains(call.name) { names += e.parameters.map(\.name) }
            if let m = try? reg.metric(quoted), ["metric", "score"].contains(call.name) { names += m.parameters.map(\.name) }
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }.map { $0 + ": " }
    }

    /// The model a call's arguments name: the first argument that is a variable bound to a model.
    func callModel(_ arguments: String) -> Graph? {
        for part in arguments.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            if case let .model(m)? = interpreter.globals.lookup(name) { return m.graph }
        }
        return nil
    }

    /// The function whose argument list is open at the end of `chars`, if any.
    func enclosingCall(_ chars: [Character]) -> String? {
        var depth = 0, i = chars.count - 1
        var inString = false
        while i >= 0 {
            let c = chars[i]
            if c == "\"" { inString.toggle() }
            else if !inString {
                if c == ")" || c == "]" { depth += 1 }
                else if c == "(" || c == "[" {
                    // An open list is transparent: metric(["del| still completes metrics.
                    if depth == 0 && c == "[" { i -= 1; continue }
                    if depth == 0 {
                        var e = i
                        while e > 0, chars[e - 1] == " " { e -= 1 }
                        var b = e
                        while b > 0, chars[b - 1].isLetter || chars[b - 1].isNumber || chars[b - 1] == "_" { b -= 1 }
                        return b < e ? String(chars[b..<e]) : nil
                    }
                    depth -= 1
                }
            }
            i -= 1
        }
        return nil
    }

    /// Files and directories (with a trailing '/') starting with `prefix`.
    static func paths(_ prefix: String) -> [String] {
        let dir = prefix.lastIndex(of: "/").map { String(prefix[...$0]) } ?? ""
        let expanded = dir.isEmpty ? "." : (dir as NSString).expandingTildeInPath
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: expanded) else { return [] }
        return entries.compactMap { e -> String? in
            let full = dir + e
            guard full.hasPrefix(prefix), !e.hasPrefix(".") || prefix.hasSuffix(".") || (prefix as NSString).lastPathComponent.hasPrefix(".") else { return nil }
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: (expanded as NSString).appendingPathComponent(e), isDirectory: &isDir)
            return isDir.boolValue ? full + "/" : full
        }.sorted()
    }
}
