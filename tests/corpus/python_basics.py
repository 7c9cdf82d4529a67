# Source: warm-up cells learners run in the same notebooks before any TensorFlow (plain
# Python and NumPy: prints, comprehensions, errors, many names at once).
# ruff: noqa
# %%
print("hello, world")
# %%
a, b, c, d, e = 1, 2.5, "three", [4], {"five": 5}
a + b
# %%
squares = [i * i for i in range(10)]
squares
# %%
def f(x):
    return 3 * x ** 2 - 4 * x + 5

f(3.0)
# %%
h = 0.0001
x = 3.0
round((f(x + h) - f(x)) / h, 3)
# %%
import math
math.exp(-1) + math.log(2)
# %%
1 / 0
# %%
import numpy as np
xs = np.arange(-5, 5, 0.25)
ys = f(xs)
ys.shape
# %%
{"a": a, "b": b, "squares": squares[:3]}
# %%
import warnings
warnings.warn("this is a user warning")
print("after the warning")
# %%
import sys
print("to stderr", file=sys.stderr)
# %%
x = 5;
# %%
x
# %%
for i in range(3):
    print(i, end=" ")
print()
# %%
class Value:
    def __init__(self, data):
        self.data = data
    def __repr__(self):
        return f"Value(data={self.data})"
    def __add__(self, other):
        return Value(self.data + other.data)

Value(2.0) + Value(-3.0)
# %%
undefined_name + 1
