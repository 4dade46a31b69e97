import Foundation
import Testing
@testable import Kernel
import Lang
import Plugins
import Runtime

/// Collects what a kernel publishes (message type, content), from any thread.
final class Published: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(String, JSONObject)] = []
    func add(_ type: String, _ content: JSONObject) { lock.withLock { items.append((type, content)) } }
    var all: [(String, JSONObject)] { lock.withLock { items } }
    func of(_ type: String) -> [JSONObject] { all.filter { $0.0 == type }.map(\.1) }
}

/// The kernel's answers without sockets: one REPL session behind the Jupyter requests.
struct NotebookKernelTests {
    let published = Published()
    let kernel: NotebookKernel

    init() {
        let p = published
        kernel = NotebookKernel(cancellation: CancellationToken()) { p.add($0, $1) }
    }

    @Test func cellsShareTheREPLSession() {
        #expect(kernel.execute(["code": "let x = 1 + 2"]).int("execution_count") == 1)
        let reply = kernel.execute(["code": "x * 2"])
        #expect(reply.string("status") == "ok")
        #expect(reply.int("execution_count") == 2)
        let result = published.of("execute_result")
        #expect(result.count == 1)
        #expect(result.first?.int("execution_count") == 2)
        #expect((result.first?["data"] as? JSONObject)?.string("text/plain") == "6")
        _ = kernel.execute(["code": "print(_ + Out[2])"])
        #expect(published.of("stream").last?.string("text") == "12\n")
        #expect(published.of("stream").last?.string("name") == "stdout")
    }

    @Test func errorsCarryKindAndLocation() {
        let reply = kernel.execute(["code": "let a = 1\nlet b = a + nope"])
        #expect(reply.string("status") == "error")
        #expect(reply.string("ename") == "ParseError")
        let traceback = reply["traceback"] as? [String] ?? []
        #expect(traceback.first?.hasPrefix("In[1]:2:13: error:") == true)
        #expect(traceback.contains("let b = a + nope"))
        #expect(traceback.contains("            ^"))
        #expect(published.of("error").count == 1)

        let runtime = kernel.execute(["code": "[1, 2][5]"])
        #expect(runtime.string("ename") == "RuntimeError")
        #expect(runtime.int("execution_count") == 2)
        let unfinished = kernel.execute(["code": "let l = [1,"])
        #expect(unfinished.string("ename") == "ParseError")
        #expect(unfinished.int("execution_count") == 3)
    }

    @Test func completionIsTheREPLs() {
        let reply = kernel.complete(["code": "expl", "cursor_pos": 4])
        #expect((reply["matches"] as? [String])?.contains("explain") == true)
        #expect(reply.int("cursor_start") == 0)
        #expect(reply.int("cursor_end") == 4)
        // Offsets count code points across lines: "é" is one, the newline another.
        let code = "let é = 1\nlet m = expl"
        let multi = kernel.complete(["code": code, "cursor_pos": code.unicodeScalars.count])
        #expect((multi["matches"] as? [String])?.contains("explain") == true)
        #expect(multi.int("cursor_start") == code.unicodeScalars.count - 4)
        let methods = kernel.complete(["code": "explain(m, x, \"grad", "cursor_pos": 19])
        #expect((methods["matches"] as? [String])?.contains("gradcam") == true)
    }

    @Test func inspectShowsHelp() {
        func text(_ reply: JSONObject) -> String { (reply["data"] as? JSONObject)?.string("text/plain") ?? "" }
        let builtin = kernel.inspect(["code": "explain(m, x", "cursor_pos": 12])
        #expect(builtin["found"] as? Bool == true)
        #expect(text(builtin).contains("explain("))
        #expect(text(kernel.inspect(["code": "explain(m, x, \"gradcam\")", "cursor_pos": 17])).contains("gradcam"))
        _ = kernel.execute(["code": "let cfg = {steps: 3}"])
        #expect(text(kernel.inspect(["code": "cfg", "cursor_pos": 1])).hasPrefix("cfg: a record"))
        #expect(kernel.inspect(["code": "nothing_here", "cursor_pos": 3])["found"] as? Bool == false)
    }

    @Test func isCompleteFollowsTheContinuationRule() {
        #expect(kernel.isComplete(["code": "1 + 2"]).string("status") == "complete")
        let open = kernel.isComplete(["code": "for i in 0..<3 {\n  if i > 1 {"])
        #expect(open.string("status") == "incomplete")
        #expect(open.string("indent") == "    ")
        #expect(kernel.isComplete(["code": "print(1,"]).string("status") == "incomplete")
        #expect(kernel.isComplete(["code": "let = 4"]).string("status") == "invalid")
        #expect(kernel.isComplete(["code": ":help"]).string("status") == "complete")
    }

    @Test func historyListsCells() {
        _ = kernel.execute(["code": "let a = 1"])
        _ = kernel.execute(["code": "a + 1"])
        let tail = kernel.history(["hist_access_type": "tail", "n": 1, "output": true])["history"] as? [[Any]]
        #expect(tail?.count == 1)
        #expect(tail?.first?[1] as? Int == 2)
        #expect((tail?.first?[2] as? [Any])?.first as? String == "a + 1")
        let search = kernel.history(["hist_access_type": "search", "pattern": "let*"])["history"] as? [[Any]]
        #expect(search?.count == 1)
    }

    @Test func mapsBecomeReadablePNGs() throws {
        let map = Tensor(shape: [28, 28]) { out in for i in 0..<out.count { out[i] = Float(i % 28) } }
        let bundle = try MimeBundle.value(.tensor(map))
        let png = try #require(Data(base64Encoded: bundle.string("image/png") ?? ""))
        let picture = try decodePNG(Array(png), path: "<test>")
        // 28 px enlarged 12 times (the shorter side reaches 320 px).
        #expect(picture.shape == [3, 336, 336])
        #expect(MimeBundle.readableScale(height: 28, width: 28) == 12)
        #expect(MimeBundle.readableScale(height: 300, width: 900) == 1)
        #expect(MimeBundle.readableScale(height: 45, width: 140) == 6)
    }

    @Test func tablesAreHTML() {
        _ = kernel.execute(["code": "table([{name: \"a<b\", n: 1}])"])
        let data = published.of("execute_result").first?["data"] as? JSONObject
        #expect(data?.string("text/html")?.contains("<td>a&lt;b</td>") == true)
        #expect(data?.string("text/plain")?.contains("name") == true)
    }

    @Test func progressUpdatesOneDisplay() {
        kernel.progress(ProgressBar.Update(id: 7, line: "explain rise 1/4"))
        kernel.progress(ProgressBar.Update(id: 7, line: "explain rise 4/4"))
        let types = published.all.map(\.0)
        #expect(types == ["display_data", "update_display_data"])
        let ids = published.all.compactMap { ($0.1["transient"] as? JSONObject)?.string("display_id") }
        #expect(ids.count == 2 && ids[0] == ids[1])
    }

    @Test func interruptCancelsTheCellAndTheSessionGoesOn() async throws {
        let token = CancellationToken()
        let p = published
        let kernel = NotebookKernel(cancellation: token) { p.add($0, $1) }
        let box = ReplyBox()
        let thread = Thread {
            box.set(kernel.execute(["code": "let n = 0\nfor i in 0..<100000000 { n = n + 1 }"]))
        }
        thread.start()
        // Cancel as interrupt_request does; the token is only cleared when the cell ends, so
        // a cancel that lands before the loop starts stops it too.
        try await Task.sleep(nanoseconds: 300_000_000)
        token.cancel()
        var waited = 0
        while box.get() == nil && waited < 200 { try await Task.sleep(nanoseconds: 50_000_000); waited += 1 }
        let reply = try #require(box.get())
        #expect(reply.string("ename") == "Interrupted")
        // The first cell's variable survives; its value depends on when the cancel landed.
        #expect(kernel.execute(["code": "n >= 0"]).string("status") == "ok")
        #expect((published.of("execute_result").last?["data"] as? JSONObject)?.string("text/plain") == "true")
    }
}

final class ReplyBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: JSONObject?
    func set(_ v: JSONObject) { lock.withLock { value = v } }
    func get() -> JSONObject? { lock.withLock { value } }
}
