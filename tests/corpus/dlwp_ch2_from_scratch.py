# Source: "Deep Learning with Python" (Chollet), chapter 2, "Looking back at our first
# example: reimplementing it from scratch in TensorFlow" (NaiveDense, NaiveSequential,
# BatchGenerator, one_training_step, update_weights, fit); synthetic MNIST-shaped data.
# ruff: noqa
# %%
import math
import numpy as np
import tensorflow as tf
# %%
class NaiveDense:
    def __init__(self, input_size, output_size, activation):
        self.activation = activation

        w_shape = (input_size, output_size)
        w_initial_value = tf.random.uniform(w_shape, minval=0, maxval=1e-1)
        self.W = tf.Variable(w_initial_value)

        b_shape = (output_size,)
        b_initial_value = tf.zeros(b_shape)
        self.b = tf.Variable(b_initial_value)

    def __call__(self, inputs):
        return self.activation(tf.matmul(inputs, self.W) + self.b)

    @property
    def weights(self):
        return [self.W, self.b]
# %%
class NaiveSequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, inputs):
        x = inputs
        for layer in self.layers:
           x = layer(x)
        return x

    @property
    def weights(self):
       weights = []
       for layer in self.layers:
           weights += layer.weights
       return weights
# %%
model = NaiveSequential([
    NaiveDense(input_size=28 * 28, output_size=64, activation=tf.nn.relu),
    NaiveDense(input_size=64, output_size=10, activation=tf.nn.softmax)
])
assert len(model.weights) == 4
# %%
class BatchGenerator:
    def __init__(self, images, labels, batch_size=128):
        assert len(images) == len(labels)
        self.index = 0
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.num_batches = math.ceil(len(images) / batch_size)

    def next(self):
        images = self.images[self.index : self.index + self.batch_size]
        labels = self.labels[self.index : self.index + self.batch_size]
        self.index += self.batch_size
        return images, labels
# %%
learning_rate = 1e-3

def update_weights(gradients, weights):
    for g, w in zip(gradients, weights):
        w.assign_sub(g * learning_rate)
# %%
def one_training_step(model, images_batch, labels_batch):
    with tf.GradientTape() as tape:
        predictions = model(images_batch)
        per_sample_losses = tf.keras.losses.sparse_categorical_crossentropy(
            labels_batch, predictions)
        average_loss = tf.reduce_mean(per_sample_losses)
    gradients = tape.gradient(average_loss, model.weights)
    update_weights(gradients, model.weights)
    return average_loss
# %%
def fit(model, images, labels, epochs, batch_size=128):
    for epoch_counter in range(epochs):
        print(f"Epoch {epoch_counter}")
        batch_generator = BatchGenerator(images, labels, batch_size)
        for batch_counter in range(batch_generator.num_batches):
            images_batch, labels_batch = batch_generator.next()
            loss = one_training_step(model, images_batch, labels_batch)
            if batch_counter % 2 == 0:
                print(f"loss at batch {batch_counter}: {loss:.2f}")
# %%
rng = np.random.default_rng(0)
train_images = rng.random((256, 28 * 28)).astype("float32")
train_labels = rng.integers(0, 10, size=256)
test_images = rng.random((64, 28 * 28)).astype("float32")
test_labels = rng.integers(0, 10, size=64)
# %%
fit(model, train_images, train_labels, epochs=2, batch_size=128)
# %%
predictions = model(test_images)
predictions = predictions.numpy()
predicted_labels = np.argmax(predictions, axis=1)
matches = predicted_labels == test_labels
print(f"accuracy: {matches.mean():.2f}")
# %%
images_batch, labels_batch = BatchGenerator(train_images, train_labels, 32).next()
loss = one_training_step(model, images_batch, labels_batch)
loss
# %%
from tensorflow.keras import optimizers

optimizer = optimizers.SGD(learning_rate=1e-3)

def update_weights(gradients, weights):
    optimizer.apply_gradients(zip(gradients, weights))
# %%
loss = one_training_step(model, images_batch, labels_batch)
print(f"{loss.numpy():.4f}")
# %%
model.weights[1][:3]
# %%
optimizer.iterations
