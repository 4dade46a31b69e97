/// The language front ends (.sal scripts, REPL cells, YAML pipelines) share one interpreter.
public enum LangModule {
    public static let version = "0.1.0"
}
