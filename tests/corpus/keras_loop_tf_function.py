# Source: Keras guide "Writing a training loop from scratch": "Speeding-up your training step
# with tf.function" (train_step, test_step) and "Low-level handling of losses".
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
from keras import layers
# %%
model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"),
                          layers.Dense(3)])
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
# %%
rng = np.random.default_rng(3)
x = rng.random((64, 8)).astype("float32")
y = rng.integers(0, 3, size=64)
train_dataset = tf.data.Dataset.from_tensor_slices((x[:48], y[:48])).batch(16)
val_dataset = tf.data.Dataset.from_tensor_slices((x[48:], y[48:])).batch(16)
# %%
@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    train_acc_metric.update_state(y, logits)
    return loss_value
# %%
@tf.function
def test_step(x, y):
    val_logits = model(x, training=False)
    val_acc_metric.update_state(y, val_logits)
# %%
for epoch in range(2):
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        loss_value = train_step(x_batch_train, y_batch_train)
    print(f"epoch {epoch} loss {float(loss_value):.4f}")
    train_acc = train_acc_metric.result()
    train_acc_metric.reset_state()
    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"train acc {float(train_acc):.4f} val acc {float(val_acc):.4f}")
# %%
class ActivityRegularizationLayer(layers.Layer):
    def call(self, inputs):
        self.add_loss(1e-2 * tf.reduce_sum(inputs))
        return inputs

inputs = keras.Input(shape=(8,))
h = layers.Dense(16, activation="relu")(inputs)
h = ActivityRegularizationLayer()(h)
outputs = layers.Dense(3)(h)
model = keras.Model(inputs=inputs, outputs=outputs)
# %%
@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
        loss_value += sum(model.losses)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    return loss_value
# %%
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_value = train_step(x[:16], y[:16])
loss_value.shape
# %%
len(model.losses)
# %%
train_step.experimental_get_tracing_count()
