# The README's two commands.
.PHONY: demo test bootstrap build bench fuzz bench-peer

bootstrap:
	@scripts/bootstrap

build: bootstrap
	swift build -c release

# The main job: the 14 baseline explainers on Fashion-MNIST and an8Flower with the shipped models,
# scored with deletion, insertion and IoU; writes out/demo/report.html.
demo: build
	.build/release/saliency-repl run examples/demo.yaml --out out/demo

# Swift Testing only (XCTest would print an empty "0 tests" summary after ours).
test:
	@scripts/bootstrap --python-test-tools
	swift test --disable-xctest

bench: build
	swift run -c release saliency-bench runtime

# libFuzzer + AddressSanitizer over every parser of untrusted input, FUZZ_SECONDS (default 10)
# per target; see scripts/fuzz and docs/reliability.md.
fuzz:
	scripts/fuzz

# Ours against onnxruntime, PyTorch and Captum on the same ONNX ResNet-18; writes docs/performance.md.
bench-peer: build
	scripts/bench-peer
