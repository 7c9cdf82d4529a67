# Source: Keras guide "Writing a training loop from scratch" (TensorFlow backend): an eager
# loop with GradientTape; small synthetic data instead of MNIST.
# ruff: noqa
# %%
import os
import numpy as np
import tensorflow as tf
import keras
from keras import layers
# %%
def get_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model

model = get_model()
# %%
optimizer = keras.optimizers.SGD(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
# %%
batch_size = 32
rng = np.random.default_rng(1)
x_train = rng.random((128, 784)).astype("float32")
y_train = rng.integers(0, 10, size=128)
x_val = x_train[-32:]
y_val = y_train[-32:]
x_train = x_train[:-32]
y_train = y_train[:-32]
# %%
train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = train_dataset.shuffle(buffer_size=1024, seed=0).batch(batch_size)
val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val))
val_dataset = val_dataset.batch(batch_size)
# %%
epochs = 2
for epoch in range(epochs):
    print(f"\nStart of epoch {epoch}")
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)
            loss_value = loss_fn(y_batch_train, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        if step % 2 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}")
            print(f"Seen so far: {(step + 1) * batch_size} samples")
# %%
x_batch_train, y_batch_train = next(iter(train_dataset))
with tf.GradientTape() as tape:
    logits = model(x_batch_train, training=True)
    loss_value = loss_fn(y_batch_train, logits)
grads = tape.gradient(loss_value, model.trainable_weights)
optimizer.apply_gradients(zip(grads, model.trainable_weights))
# %%
[g.shape for g in grads]
# %%
optimizer.iterations.numpy()
# %%
float(loss_value)
