"""The reference text's two GradientTape examples, exactly as the book writes them."""

EXAMPLE_1 = """\
input_var = tf.Variable(initial_value=3.0)
with tf.GradientTape() as tape:
    result = tf.square(input_var)
gradient = tape.gradient(result, input_var)
print(gradient)
print(input_var)
"""

EXAMPLE_2 = """\
time = tf.Variable(0.0)
with tf.GradientTape() as outer_tape:
    with tf.GradientTape() as inner_tape:
        position = (4.9) * (time)**2
    speed = inner_tape.gradient(position, time)
acceleration = outer_tape.gradient(speed, time)
print(acceleration)
"""


def record_source(source: str, **options):
    """Run ``source`` under ``tapeviz.record``: ``(Recording, the namespace it ran in)``."""
    import numpy as np
    import tensorflow as tf

    import tapeviz

    namespace = {"tf": tf, "np": np}
    with tapeviz.record(namespace, **options) as rec:
        exec(source, namespace)
    return rec, namespace
