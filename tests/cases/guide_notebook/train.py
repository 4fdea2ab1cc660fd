"""The guide's notebook example (section 1), followed literally, with a 1x1-convolution in place of LinkNet34.

It keeps the guide's known slip: the weights go to ``outputSaveDir + model_name + '.th'``, which is
``output<model_name>.th`` next to this script, not ``output/files/<model_name>.th``. The kit must report
the missing weights (OUT001) and point at the missing "/" (OUT010's hint).
"""
# 1.1 导入包
from aiUtils import aiUtils
import os
import json
import io
from PIL import Image
import numpy as np
import time
import torch
import torch.utils.data as data
from torch.utils.data import DataLoader

torch.set_num_threads(1)

# 获取当前项目路径
basedir = os.getcwd()

# 1.2.1 加载输入参数流
params = json.loads(input())

# 1.2.2 获取数据
model_name = params["model_name"]
dataset_id = params["dataset_id"]
resume_path = params["resume_path"]
n_class = int(params["n_class"])
batch_size = int(params["batch_size"])
epochs = int(params["epochs"])
training_id = params["training_id"]
class_name = params["class_name"]

# gpu
device_ids = []
gpu_num = int(params['gpu_num'])
if gpu_num == 0:
    gpu_ids = -1  # for CPU
else:
    for i in range(0, gpu_num):
        device_ids.append(i)

# 图片标签处理（中间图片输出类别颜色需与label颜色一致）
labels = params['label']
labels = eval(labels)
rgb_value = {}
acval_realval = {}

for i, val in enumerate(labels):
    for key in val.keys():
        if key == "class_color":
            color_ = val[key]
            rgb = tuple(list(map(int, color_.split(','))))
        elif key == "class_value":
            value = int(val[key])
            trainValue = int(i)
        else:
            continue
    if rgb and value >= 0:
        rgb_value[rgb] = value
        acval_realval[value] = trainValue


# 1.2.2 加载预训练模型 (LinkNet34 in the guide; a 1x1 convolution here)
class TinyNet(torch.nn.Module):
    def __init__(self, n_class):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, n_class + 1, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


model = TinyNet(n_class)

if dataset_id == "":
    dataset_id = None
s3Client = aiUtils.s3GetImg(datasetId=dataset_id)

if resume_path:
    resume_path = "/".join(resume_path.split("/")[3:])
    print('Loading weights into state dict...')
    s3Client.downS3Weight(basedir + '/' + model_name + ".th", resume_path + model_name + ".th")
    model.load_state_dict(basedir + '/' + model_name + ".th")

dataset_path = s3Client.path


# 1.3.2 创建数据迭代器
class ImageDataset(data.Dataset):

    def __init__(self, path, s3Client):
        path = "/".join(path.split("/")[3:])
        self.images = s3Client.getImages(path + "images")

    def __getitem__(self, index):
        image_path = self.images[index]
        label_path = image_path.replace('images', 'labels').rsplit(".", 1)[0] + ".png"
        imgBody = s3Client.getImgXmlArray(image_path)
        pillowImage = Image.open(io.BytesIO(imgBody)).convert("RGB")
        img = np.asarray(pillowImage, dtype=np.float32).transpose(2, 0, 1) / 255.0
        labelBody = s3Client.getImgXmlArray(label_path)
        pillowLable = Image.open(io.BytesIO(labelBody))
        label = np.asarray(pillowLable)
        train_label = np.zeros(label.shape, dtype=np.int64)
        for real, trained in acval_realval.items():
            train_label[label == real] = trained
        return torch.Tensor(img), torch.from_numpy(train_label)

    def __len__(self):
        return len(self.images)


train_dataset = ImageDataset(dataset_path + "train/", s3Client)
train_data_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, num_workers=0)
valid_dataset = ImageDataset(dataset_path + "valid/", s3Client)
valid_data_loader = DataLoader(valid_dataset, batch_size=batch_size, shuffle=True, num_workers=0)

# 1.4.1 输出存放位置
outputSaveDir = basedir + '/output'
if not os.path.exists(outputSaveDir + '/picture/'):
    os.makedirs(outputSaveDir + '/picture/')
if not os.path.exists(outputSaveDir + '/files/'):
    os.makedirs(outputSaveDir + '/files/')

# 1.4.2 初始化json文件
start_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
log = {'training_id': training_id, "create_time": start_time,
       "description": {"precision": "精确度", "recall": "召回率", "score": "F1分数"},
       "epochs": [], 'best': "", "end_time": ""}

colors = [tuple(map(int, lab["class_color"].split(","))) for lab in labels]


def colorise(index_map):
    return Image.fromarray(np.array(colors, dtype=np.uint8)[index_map])


def save_image(img, mask, pred):
    image = (img[0].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
    Image.fromarray(image).save(outputSaveDir + '/picture/image.png')
    colorise(mask[0].numpy()).save(outputSaveDir + '/picture/label.png')
    colorise(pred[0].argmax(0).numpy()).save(outputSaveDir + '/picture/pred.png')


def scores(pred, mask):
    p = pred.argmax(1)
    tp = float(((p == mask) & (mask > 0)).sum())
    precision = tp / max(float((p > 0).sum()), 1.0)
    recall = tp / max(float((mask > 0).sum()), 1.0)
    score = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": precision, "recall": recall, "score": score}


optimizer = torch.optim.SGD(model.parameters(), lr=float(params["learning_rate"]) * 100)
loss_fn = torch.nn.CrossEntropyLoss()
best_score = best_precision = best_recall = 0.0

# 1.4.3 批次进行训练，在epoch中输出图片，保存权重文件，保存日志
for epoch in range(0, epochs):
    train_data_loader_iter = iter(train_data_loader)
    valid_data_loader_iter = iter(valid_data_loader)

    for img, mask in train_data_loader_iter:
        optimizer.zero_grad()
        pred = model.forward(img)
        loss = loss_fn(pred, mask)
        loss.backward()
        optimizer.step()
        train_scores = scores(pred.detach(), mask)

    with torch.no_grad():
        for img, mask in valid_data_loader_iter:
            pred = model.forward(img)
            valid_scores = scores(pred, mask)

    best_score = max(best_score, valid_scores["score"])
    best_precision = max(best_precision, valid_scores["precision"])
    best_recall = max(best_recall, valid_scores["recall"])

    # 保存权重文件 (the guide's slip: no "/" between the folder and the file name)
    weightDir = outputSaveDir + model_name + '.th'
    torch.save(model.state_dict(), weightDir)

    save_image(img, mask, pred)

    train = []
    valid = []
    train.append({"class": "all", "values": train_scores})
    valid.append({"class": "all", "values": valid_scores})
    class_name_array = class_name.split(',')
    for ii, name in enumerate(class_name_array):
        train.append({"class": name, "values": train_scores})
        valid.append({"class": name, "values": valid_scores})

    log["epochs"].append({"epoch": epoch + 1, "train": train, "valid": valid})
    log["best"] = {"score": best_score, "precision": best_precision, "recall": best_recall}

    if epoch == epochs - 1:
        end_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        log["end_time"] = end_time

    trainlog = json.dumps(log, indent=4)
    with open(outputSaveDir + '/trainlog.json', 'w', encoding='utf-8') as log_file:
        log_file.write(trainlog)

    print("[Process: {process}]".format(process=str(epoch + 1) + '/' + str(epochs)))
