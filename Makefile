# The README's two commands.
.PHONY: demo test bootstrap build bench

bootstrap:
	@scripts/bootstrap

build: bootstrap
	swift build -c release

# The main job. Until the language and pipelines land this is the runtime benchmark.
demo: build
	swift run -c release saliency-bench runtime

# Swift Testing only (XCTest would print an empty "0 tests" summary after ours).
test:
	@scripts/bootstrap --python-test-tools
	swift test --disable-xctest

bench: build
	swift run -c release saliency-bench runtime
