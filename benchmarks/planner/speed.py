import os, sys, time, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL","3")
import numpy as np, keras
import sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import reg
from kaggle_digits.models import create_model
from kaggle_digits.models.augment import build_augmentation
from kaggle_digits.config import AugmentConfig
rng=np.random.default_rng(0)
n=int(os.environ.get("N","6400"))
x=rng.integers(0,255,(n,28,28,1),dtype=np.uint8); y=np.eye(10,dtype="float32")[rng.integers(0,10,n)]
for spec in sys.argv[1:]:
    name,prec,bs,aug=spec.split(":")
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if prec=="bf16" else "float32")
    a=build_augmentation(AugmentConfig(), seed=1) if aug=="1" else None
    m=create_model(name, augmentation=a)
    m.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy")
    m.fit(x[:1024],y[:1024],batch_size=int(bs),epochs=1,verbose=0)
    t=time.perf_counter(); m.fit(x,y,batch_size=int(bs),epochs=1,verbose=0); dt=time.perf_counter()-t
    t=time.perf_counter(); m.predict(x,batch_size=1024,verbose=0); dp=time.perf_counter()-t
    print(json.dumps({"spec":spec,"params":m.count_params(),"train_img_s":round(n/dt),"pred_img_s":round(n/dp)}),flush=True)
