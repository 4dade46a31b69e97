import Testing
import Plugins

@Test func pluginsSeeTheRuntimeThreadSetting() {
    #expect(PluginsModule.runtimeThreads >= 1)
}
