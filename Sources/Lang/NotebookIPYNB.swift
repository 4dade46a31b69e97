import Foundation
import Runtime

/// The session as a Jupyter notebook (nbformat 4.5): one code cell per REPL cell with its
/// outputs, printed text as a stream, pictures as PNG, tables as HTML with a text fallback,
/// the value as the execute result, an error as an error output. Opens in JupyterLab with
/// the saliency-repl kernel (`saliency-repl kernel install`).
extension Session {
    public func notebookJSON() throws -> String {
        func lines(_ s: String) -> [String] {
            // nbformat's multiline strings: a list of lines, each but the last ending in "\n".
            let parts = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            return parts.enumerated().map { $0.offset < parts.count - 1 ? $0.element + "\n" : $0.element }.filter { !$0.isEmpty }
        }
        func png(_ rgb: Tensor) throws -> String { Data(try encodePNG(rgb)).base64EncodedString() }
        func output(_ item: OutputItem) throws -> [String: Any] {
            switch item {
            case let .text(s): return ["output_type": "stream", "name": "stdout", "text": lines(s + "\n")]
            case let .image(pic, caption):
                return ["output_type": "display_data", "metadata": [String: Any](), "data": ["image/png": try png(pic), "text/plain": lines(caption)]]
            case let .table(t):
                return ["output_type": "display_data", "metadata": [String: Any](), "data": ["text/html": lines(NotebookHTML.table(t)), "text/plain": lines(t.rendered())]]
            }
        }
        var cellsJSON: [[String: Any]] = []
        for c in cells {
            var outputs = try c.outputs.map(output)
            if let v = c.value {
                var data: [String: Any] = ["text/plain": lines(v.printed)]
                if let (pic, _) = try Builtins.picture(v) { data["image/png"] = try png(pic) }
                if case let .table(t) = v { data["text/html"] = lines(NotebookHTML.table(t)) }
                outputs.append(["output_type": "execute_result", "execution_count": c.number, "metadata": [String: Any](), "data": data])
            }
            if let e = c.error {
                let first = e.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? e
                outputs.append(["output_type": "error", "ename": "Error", "evalue": first, "traceback": e.split(separator: "\n").map(String.init)])
            }
            cellsJSON.append(["cell_type": "code", "id": "cell-\(c.number)", "execution_count": c.number, "metadata": [String: Any](),
                              "source": lines(c.code), "outputs": outputs])
        }
        let notebook: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": ["kernelspec": ["name": "saliency-repl", "display_name": "saliency-repl (.sal)", "language": "sal"],
                         "language_info": ["name": "sal", "file_extension": ".sal", "mimetype": "text/x-sal"]],
            "cells": cellsJSON,
        ]
        let data = try JSONSerialization.data(withJSONObject: notebook, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
