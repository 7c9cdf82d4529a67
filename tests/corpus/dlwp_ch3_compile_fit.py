# Source: "Deep Learning with Python" (Chollet), chapter 3, "The compile step", "Understanding
# the fit() method", "Monitoring loss and metrics on validation data", "Inference".
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
from tensorflow import keras
# %%
np.random.seed(0)
num_samples_per_class = 100
negative_samples = np.random.multivariate_normal(
    mean=[0, 3], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
positive_samples = np.random.multivariate_normal(
    mean=[3, 0], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
inputs = np.vstack((negative_samples, positive_samples)).astype(np.float32)
targets = np.vstack((np.zeros((num_samples_per_class, 1), dtype="float32"),
                     np.ones((num_samples_per_class, 1), dtype="float32")))
# %%
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="rmsprop",
              loss="mean_squared_error",
              metrics=["accuracy"])
# %%
model.compile(optimizer=keras.optimizers.RMSprop(),
              loss=keras.losses.MeanSquaredError(),
              metrics=[keras.metrics.BinaryAccuracy()])
# %%
history = model.fit(
    inputs,
    targets,
    epochs=3,
    batch_size=64,
    verbose=0
)
# %%
sorted(history.history.keys())
# %%
len(history.history["loss"])
# %%
model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
              loss=keras.losses.MeanSquaredError(),
              metrics=[keras.metrics.BinaryAccuracy()])

indices_permutation = np.random.permutation(len(inputs))
shuffled_inputs = inputs[indices_permutation]
shuffled_targets = targets[indices_permutation]

num_validation_samples = int(0.3 * len(inputs))
val_inputs = shuffled_inputs[:num_validation_samples]
val_targets = shuffled_targets[:num_validation_samples]
training_inputs = shuffled_inputs[num_validation_samples:]
training_targets = shuffled_targets[num_validation_samples:]
model.fit(
    training_inputs,
    training_targets,
    epochs=2,
    batch_size=16,
    validation_data=(val_inputs, val_targets),
    verbose=2
)
# %%
loss_and_metrics = model.evaluate(val_inputs, val_targets, batch_size=128, verbose=0)
loss_and_metrics
# %%
predictions = model.predict(val_inputs, batch_size=128, verbose=0)
print(predictions[:10].round(2))
# %%
predictions = model(val_inputs[:5])
predictions.shape
# %%
model.compile(optimizer="rmsprp", loss="mse")
