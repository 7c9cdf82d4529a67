# Source: Keras guide "Writing a training loop from scratch": "Low-level handling of metrics"
# (update_state, result, reset_state) in an eager loop with validation.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
# %%
inputs = keras.Input(shape=(20,), name="digits")
x = keras.layers.Dense(16, activation="relu")(inputs)
outputs = keras.layers.Dense(10, name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs)

optimizer = keras.optimizers.SGD(learning_rate=1e-2)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
# %%
rng = np.random.default_rng(2)
x_all = rng.random((96, 20)).astype("float32")
y_all = rng.integers(0, 10, size=96)
train_dataset = tf.data.Dataset.from_tensor_slices((x_all[:64], y_all[:64])).batch(16)
val_dataset = tf.data.Dataset.from_tensor_slices((x_all[64:], y_all[64:])).batch(16)
# %%
epochs = 2
for epoch in range(epochs):
    print(f"Start of epoch {epoch}")
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)
            loss_value = loss_fn(y_batch_train, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        train_acc_metric.update_state(y_batch_train, logits)
    train_acc = train_acc_metric.result()
    print(f"Training acc over epoch: {float(train_acc):.4f}")
    train_acc_metric.reset_state()
    for x_batch_val, y_batch_val in val_dataset:
        val_logits = model(x_batch_val, training=False)
        val_acc_metric.update_state(y_batch_val, val_logits)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"Validation acc: {float(val_acc):.4f}")
# %%
m = keras.metrics.Mean()
m.update_state([1.0, 2.0, 3.0])
m.result()
# %%
m.update_state(5.0)
float(m.result())
# %%
m.reset_state()
m.result().numpy()
# %%
acc = keras.metrics.SparseCategoricalAccuracy()
acc.update_state([1, 2], [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
print(acc.result().numpy())
