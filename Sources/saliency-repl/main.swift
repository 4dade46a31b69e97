import Lang

print("saliency-repl \(LangModule.version): the language and REPL arrive with the language issue; run `saliency-bench runtime` for the runtime benchmark.")
