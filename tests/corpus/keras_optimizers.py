# Source: Keras guide "Writing a training loop from scratch" and the optimizers API page:
# the same step with SGD, SGD with momentum, RMSprop and Adam.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
# %%
rng = np.random.default_rng(4)
x = rng.normal(size=(32, 4)).astype("float32")
true_w = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
y = x @ true_w + 0.1
# %%
def make_model():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

def train(optimizer, steps=5):
    model = make_model()
    loss_fn = keras.losses.MeanSquaredError()
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return model, float(loss)
# %%
sgd_model, sgd_loss = train(keras.optimizers.SGD(learning_rate=0.05))
print(f"SGD: {sgd_loss:.4f}")
# %%
momentum_model, momentum_loss = train(keras.optimizers.SGD(learning_rate=0.05, momentum=0.9))
print(f"SGD momentum: {momentum_loss:.4f}")
# %%
rms_model, rms_loss = train(keras.optimizers.RMSprop(learning_rate=0.01))
print(f"RMSprop: {rms_loss:.4f}")
# %%
adam = keras.optimizers.Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999)
adam_model, adam_loss = train(adam)
print(f"Adam: {adam_loss:.4f}")
# %%
len(adam.variables)
# %%
adam.iterations
# %%
w = tf.Variable([1.0, 2.0])
opt = keras.optimizers.SGD(learning_rate=0.1)
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(w ** 2)
opt.apply([tape.gradient(loss, w)], [w])
w
# %%
schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
opt = keras.optimizers.SGD(learning_rate=schedule)
float(schedule(10))
# %%
opt.apply_gradients([(None, w)])
