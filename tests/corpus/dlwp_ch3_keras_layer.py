# Source: "Deep Learning with Python" (Chollet), chapter 3, "Anatomy of a neural network:
# Understanding core Keras APIs": a Dense layer as a Layer subclass, automatic shape inference.
# ruff: noqa
# %%
import tensorflow as tf
from tensorflow import keras
# %%
class SimpleDense(keras.layers.Layer):

    def __init__(self, units, activation=None):
        super().__init__()
        self.units = units
        self.activation = activation

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.W = self.add_weight(shape=(input_dim, self.units),
                                 initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,),
                                 initializer="zeros")

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + self.b
        if self.activation is not None:
            y = self.activation(y)
        return y
# %%
my_dense = SimpleDense(units=32, activation=tf.nn.relu)
input_tensor = tf.ones(shape=(2, 784))
output_tensor = my_dense(input_tensor)
print(output_tensor.shape)
# %%
len(my_dense.weights)
# %%
from tensorflow.keras import layers
layer = layers.Dense(32, activation="relu")
# %%
model = keras.Sequential([
    SimpleDense(32, activation="relu"),
    SimpleDense(64, activation="relu"),
    SimpleDense(32, activation="relu"),
    SimpleDense(10, activation="softmax")
])
# %%
model(tf.ones((3, 16))).shape
# %%
[w.shape for w in model.weights]
# %%
model.summary()
