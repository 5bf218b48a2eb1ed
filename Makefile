# Convenience wrappers; the README's quick start uses ./run directly (make is not on every machine).
.PHONY: demo test bench bench-quick
demo:
	./run demo
test:
	./run test
# Not part of the tests: 25-30 minutes on 2 cores (bench-quick: about 5-10).
bench:
	./run bench
bench-quick:
	./run bench --quick
