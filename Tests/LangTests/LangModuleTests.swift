import Testing
import Lang

@Test func languageVersionIsSemantic() {
    #expect(LangModule.version.split(separator: ".").count == 3)
}
