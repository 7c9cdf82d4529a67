# Source: Keras guide "Writing a training loop from scratch": "End-to-end example: a GAN
# training loop from scratch" (tiny dense generator and discriminator, synthetic "images").
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
from keras import layers
# %%
latent_dim = 8
discriminator = keras.Sequential(
    [
        keras.Input(shape=(16,)),
        layers.Dense(16),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(1),
    ],
    name="discriminator",
)
generator = keras.Sequential(
    [
        keras.Input(shape=(latent_dim,)),
        layers.Dense(16),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(16, activation="sigmoid"),
    ],
    name="generator",
)
# %%
d_optimizer = keras.optimizers.Adam(learning_rate=0.0003)
g_optimizer = keras.optimizers.Adam(learning_rate=0.0004)
loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
# %%
@tf.function
def train_step(real_images):
    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim), seed=1)
    generated_images = generator(random_latent_vectors)
    combined_images = tf.concat([generated_images, real_images], axis=0)
    labels = tf.concat(
        [tf.ones((batch_size, 1)), tf.zeros((real_images.shape[0], 1))], axis=0
    )
    labels += 0.05 * tf.random.uniform(labels.shape, seed=2)
    with tf.GradientTape() as tape:
        predictions = discriminator(combined_images)
        d_loss = loss_fn(labels, predictions)
    grads = tape.gradient(d_loss, discriminator.trainable_weights)
    d_optimizer.apply(grads, discriminator.trainable_weights)
    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim), seed=3)
    misleading_labels = tf.zeros((batch_size, 1))
    with tf.GradientTape() as tape:
        predictions = discriminator(generator(random_latent_vectors))
        g_loss = loss_fn(misleading_labels, predictions)
    grads = tape.gradient(g_loss, generator.trainable_weights)
    g_optimizer.apply(grads, generator.trainable_weights)
    return d_loss, g_loss, generated_images
# %%
batch_size = 8
all_images = np.random.default_rng(5).random((32, 16)).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices(all_images)
dataset = dataset.shuffle(buffer_size=64, seed=0).batch(batch_size)
# %%
for epoch in range(2):
    print(f"Start epoch {epoch}")
    for step, real_images in enumerate(dataset):
        d_loss, g_loss, generated_images = train_step(real_images)
    print(f"discriminator loss: {float(d_loss):.4f}")
    print(f"adversarial loss: {float(g_loss):.4f}")
# %%
generated_images.shape
# %%
def eager_train_step(real_images):
    noise = tf.random.normal((real_images.shape[0], latent_dim))
    with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
        fake = generator(noise, training=True)
        real_output = discriminator(real_images, training=True)
        fake_output = discriminator(fake, training=True)
        gen_loss = loss_fn(tf.ones_like(fake_output), fake_output)
        disc_loss = (loss_fn(tf.ones_like(real_output), real_output)
                     + loss_fn(tf.zeros_like(fake_output), fake_output))
    gen_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
    disc_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
    g_optimizer.apply_gradients(zip(gen_grads, generator.trainable_variables))
    d_optimizer.apply_gradients(zip(disc_grads, discriminator.trainable_variables))
    return gen_loss, disc_loss
# %%
gen_loss, disc_loss = eager_train_step(all_images[:8])
print(f"{float(gen_loss):.4f} {float(disc_loss):.4f}")
