# Source: "Deep Learning with Python" (Chollet), chapter 3, "An end-to-end example: A linear
# classifier in pure TensorFlow" (fewer points and steps than the book).
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
np.random.seed(0)
# %%
num_samples_per_class = 200
negative_samples = np.random.multivariate_normal(
    mean=[0, 3],
    cov=[[1, 0.5],[0.5, 1]],
    size=num_samples_per_class)
positive_samples = np.random.multivariate_normal(
    mean=[3, 0],
    cov=[[1, 0.5],[0.5, 1]],
    size=num_samples_per_class)
# %%
inputs = np.vstack((negative_samples, positive_samples)).astype(np.float32)
targets = np.vstack((np.zeros((num_samples_per_class, 1), dtype="float32"),
                     np.ones((num_samples_per_class, 1), dtype="float32")))
inputs.shape, targets.shape
# %%
input_dim = 2
output_dim = 1
W = tf.Variable(initial_value=tf.random.uniform(shape=(input_dim, output_dim)))
b = tf.Variable(initial_value=tf.zeros(shape=(output_dim,)))
# %%
def model(inputs):
    return tf.matmul(inputs, W) + b
# %%
def square_loss(targets, predictions):
    per_sample_losses = tf.square(targets - predictions)
    return tf.reduce_mean(per_sample_losses)
# %%
learning_rate = 0.1

def training_step(inputs, targets):
    with tf.GradientTape() as tape:
        predictions = model(inputs)
        loss = square_loss(targets, predictions)
    grad_loss_wrt_W, grad_loss_wrt_b = tape.gradient(loss, [W, b])
    W.assign_sub(grad_loss_wrt_W * learning_rate)
    b.assign_sub(grad_loss_wrt_b * learning_rate)
    return loss
# %%
loss = training_step(inputs, targets)
print(f"Loss at step 0: {loss:.4f}")
# %%
for step in range(40):
    loss = training_step(inputs, targets)
    print(f"Loss at step {step}: {loss:.4f}")
# %%
predictions = model(inputs)
accuracy = np.mean((predictions.numpy() > 0.5) == targets)
print(f"accuracy {accuracy:.3f}")
# %%
x = np.linspace(-1, 4, 100)
y = - W[0] /  W[1] * x + (0.5 - b) / W[1]
y.shape
# %%
W.numpy().round(3)
