# Source: Keras guide "Save, serialize, and export models" (save_weights / load_weights) as
# used in custom-loop notebooks to checkpoint a model.
# ruff: noqa
# %%
import numpy as np
import keras
# %%
def get_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model

model = get_model()
x = np.random.default_rng(6).random((16, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
# %%
model.save_weights("my_model.weights.h5")
# %%
import os
os.path.exists("my_model.weights.h5")
# %%
other = get_model()
other.load_weights("my_model.weights.h5")
np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
# %%
model.save_weights("my_model.h5")
# %%
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
model.save_weights("trained.weights.h5")
# %%
fresh = get_model()
fresh.load_weights("trained.weights.h5")
[w.shape for w in fresh.get_weights()]
# %%
model.save("whole_model.keras")
restored = keras.models.load_model("whole_model.keras")
restored.predict(x[:2], verbose=0).shape
# %%
fresh.load_weights("missing.weights.h5")
