# Source: "Deep Learning with Python" (Chollet), chapter 2, "A first look at a neural network";
# synthetic MNIST-shaped data instead of keras.datasets.mnist (no download).
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
from keras import layers
# %%
rng = np.random.default_rng(0)
train_images = rng.random((256, 28, 28)).astype("float32") * 255
train_labels = rng.integers(0, 10, size=256).astype("uint8")
test_images = rng.random((64, 28, 28)).astype("float32") * 255
test_labels = rng.integers(0, 10, size=64).astype("uint8")
# %%
train_images.shape
# %%
len(train_labels)
# %%
train_labels[:10]
# %%
model = keras.Sequential([
    layers.Dense(512, activation="relu"),
    layers.Dense(10, activation="softmax")
])
# %%
model.compile(optimizer="rmsprop",
              loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
# %%
train_images = train_images.reshape((256, 28 * 28))
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((64, 28 * 28))
test_images = test_images.astype("float32") / 255
# %%
model.fit(train_images, train_labels, epochs=2, batch_size=128)
# %%
test_digits = test_images[0:10]
predictions = model.predict(test_digits)
predictions[0]
# %%
predictions[0].argmax()
# %%
predictions[0][7]
# %%
test_labels[0]
# %%
test_loss, test_acc = model.evaluate(test_images, test_labels)
print(f"test_acc: {test_acc}")
