# Convenience wrappers; the README's quick start uses ./run directly (make is not on every machine).
.PHONY: demo test
demo:
	./run demo
test:
	./run test
