# Source: "Deep Learning with Python" (Chollet), chapter 2, "Data representations for neural
# networks": rank, shape and dtype of NumPy tensors; slicing.
# ruff: noqa
# %%
import numpy as np
x = np.array(12)
x
# %%
x.ndim
# %%
x = np.array([12, 3, 6, 14, 7])
x
# %%
x.ndim
# %%
x = np.array([[5, 78, 2, 34, 0],
              [6, 79, 3, 35, 1],
              [7, 80, 4, 36, 2]])
x.ndim
# %%
x = np.array([[[5, 78, 2, 34, 0],
               [6, 79, 3, 35, 1],
               [7, 80, 4, 36, 2]],
              [[5, 78, 2, 34, 0],
               [6, 79, 3, 35, 1],
               [7, 80, 4, 36, 2]]])
x.ndim
# %%
train_images = np.arange(60 * 28 * 28, dtype="uint8").reshape((60, 28, 28))
print(train_images.ndim)
print(train_images.shape)
print(train_images.dtype)
# %%
my_slice = train_images[10:20]
my_slice.shape
# %%
my_slice = train_images[10:20, :, :]
my_slice.shape
# %%
my_slice = train_images[10:20, 0:28, 0:28]
my_slice.shape
# %%
my_slice = train_images[:, 14:, 14:]
my_slice = train_images[:, 7:-7, 7:-7]
my_slice.shape
# %%
batch = train_images[:12]
batch = train_images[12:24]
n = 3
batch = train_images[128 * n:128 * (n + 1)]
batch.shape
