# Source: Keras guide "Writing your own callbacks" and "Training & evaluation with the built-in
# methods" (EarlyStopping).
# ruff: noqa
# %%
import numpy as np
import keras
# %%
def get_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model

rng = np.random.default_rng(7)
x_train = rng.random((64, 5)).astype("float32")
y_train = x_train.sum(axis=1)
x_test = rng.random((16, 5)).astype("float32")
y_test = x_test.sum(axis=1)
# %%
class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            print(f"Up to batch {batch}, the average loss is {logs['loss']:7.2f}.")

    def on_epoch_end(self, epoch, logs=None):
        print(
            f"The average loss for epoch {epoch} is {logs['loss']:7.2f} "
            f"and mean absolute error is {logs['mean_absolute_error']:7.2f}."
        )
# %%
model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=32,
    epochs=2,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback()],
);
# %%
res = model.evaluate(x_test, y_test, batch_size=16, verbose=0,
                     callbacks=[LossAndErrorPrintingCallback()])
[round(r, 2) for r in res]
# %%
class EpochLogger(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(epoch)
        print("epoch", epoch, "keys", sorted(logs))

logger = EpochLogger()
model = get_model()
history = model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0,
                    validation_split=0.25, callbacks=[logger])
logger.seen
# %%
early = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=100.0,
                                      verbose=1)
model = get_model()
history = model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0,
                    callbacks=[early])
len(history.history["loss"])
# %%
early.stopped_epoch
