"""Code blocks of the platform's guide (its Chinese training-script guide), copied verbatim.

The guide-example tests run them unchanged; only names the guide leaves undefined are defined around them.
"""

# ruff: noqa: E501, W291, W293

#: §1.1 导入包
IMPORTS_1_1 = """\
# 导入网络结构，LinkNet34为例
from linknet34 import LinkNet34
# 导入读取s3数据工具包
from aiUtils import aiUtils
# 导入其他工具包
import os
import json
import io
from PIL import Image
import numpy as np

# 获取当前项目路径 
basedir = os.getcwd()
"""

#: §1.2.2 获取数据 (parameters)
PARAMS_1_2_2 = """\
# 获取参数后可进行数据处理(部分)
model_name = params["model_name"]
dataset_id = params["dataset_id"]
resume_path = params["resume_path"]
n_class =  int(params["n_class"])
batch_size =  int(params["batch_size"])
epochs =  int(params["epochs"])
training_id =  params["training_id"]
class_name =  params["class_name"]

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
"""

#: §1.2.2 加载预训练模型
LOAD_MODEL_1_2_2 = """\
# 加载模型
model = LinkNet34(n_class)

# 连接s3
if dataset_id == "":
    dataset_id = None
s3Client = aiUtils.s3GetImg(datasetId=dataset_id)

# resume_path 预训练权重文件存放key，将预训练权重文件拉取到本地basedir中，进行加载
if resume_path:
    resume_path = "/".join(resume_path.split("/")[3:])
    print('Loading weights into state dict...')
    # 拉取预训练权重文件
    s3Client.downS3Weight(basedir + '/' + model_name + ".th",resume_path + model_name + ".th")
    # 模型加载权重文件
    model.load_state_dict(basedir + '/' + model_name + ".th")
"""

#: §1.3.2 创建数据迭代器
IMAGE_DATASET_1_3_2 = """\
# 自定义数据读取及数据
import torch.utils.data as data
class ImageDataset(data.Dataset):
    
    def __init__(self, path, s3Client):
        # 图片路径
        path = "/".join(path.split("/")[3:])
        self.images = s3Client.getImages(path + "images")
        
    def __getitem__(self, index):
        # 图片路径
        image_path = self.images[index]
        # 图片对应的标签路径
        label_path = image_path.replace('images', 'labels')
        # 目标识别则需要将后缀换为xml
        
        # 读取图片
        imgBody = s3Client.getImgXmlArray(image_path)
        pillowImage = Image.open(io.BytesIO(imgBody))
        img = np.asarray(pillowImage)
        
        # 读取标签
        labelBody = s3Client.getImgXmlArray(label_path)
        pillowLable = Image.open(io.BytesIO(labelBody))
        label = np.asarray(pillowLable)
        
        # 数据再处理
        # 数据增强
        
        return torch.Tensor(img),torch.Tensor(label)
    
    def __len__(self):
        return len(self.images)
        
"""

#: §1.3.3 迭代器获取数据
DATALOADER_1_3_3 = """\
from torch.utils.data import DataLoader

# 自定义获取数据、数据预处理
# 训练集
train_dataset = ImageDataset(dataset_path + "train/",s3Client)
train_data_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, num_workers=0)

# 验证集
valid_dataset = ImageDataset(dataset_path + "valid/",s3Client)
valid_data_loader = DataLoader(valid_dataset, batch_size=batch_size, shuffle=True, num_workers=0)
"""

#: §2.2 脚本访问数据集 (notebook)
NOTEBOOK_2_2 = """\
from aiUtils import aiUtils

'''初始化获取数据集的访问接口
获取数据集在S3上的路径
获取训练集样本原始影像的文件夹路径
获取样本原始影像的文件路径数组'''
dataset_interface = aiUtils.s3GetImg()

train_images_path = dataset_path + 'train/A'
train_images_path = "/".join(train_images_path.split("/")[3:])

img_files = dataset_interface.getImages(train_images_path)
print("Count of train image files:", len(img_files))
print("First train image file path:", img_files[0])
"""

#: §3.2 初始化接口
INIT_3_2 = """\
# 导入aiUtils接口
from aiUtils import aiUtils

# 初始化获取数据集的访问接口
dataset_interface = aiUtils.s3GetImg(args.dataset_id)
"""

#: §3.2 (2) 读取图片
READ_IMAGES_3_2 = """\
# 获取数据集在S3上的路径
dataset_path = dataset_interface.path

# 获取训练集样本原始影像的文件夹路径
train_images_path = dataset_path + 'train/images'
train_images_path = "/".join(train_images_path.split("/")[3:])
# 获取样本原始影像的文件路径数组
img_files = dataset_interface.getImages(train_img_path)
print("Count of train image files:", len(img_files))
print("First train image file path:", img_files[0])

from PIL import Image
import io

# 读取S3上样本影像，打印图像的大小
img_body = dataset_interface.getImgXmlArray(img_files[0])
pil_image = Image.open(io.BytesIO(img_body))
print("image size:", pil_image.size)
"""

#: §3.2 (3) 读取样本标签文件
READ_LABEL_3_2 = """\
# 根据影像的名称，获取对应的label文件路径
image_id = img_files[0].split('/')[-1].split('.')[0]
train_label_file = dataset_path + 'train/labels/%s.xml' % (image_id)
train_label_file = "/".join(train_label_file.split("/")[3:])
print(train_label_file)

# 获取标签xml内容
label_body = dataset_interface.getImgXmlArray(train_label_file)
print(label_body)
"""

#: §3.3 加载预训练模型
RESUME_3_3 = """\
# 定义YOLOv4的网络结构，获取网络结构的参数
model = YoloBody(len(anchors[0]), num_classes)
model_dict = model.state_dict()

# 定义下载到本地后预训练模型的存储路径
basedir = os.path.abspath(os.path.dirname(__file__))

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
# 如果传入了预训练模型路径，加载预训练模型  
if args.resume_path:
    args.resume_path = "/".join(args.resume_path.split("/")[3:])
    # 下载云端预训练模型到本地
    dataset_interface.downS3Weight(basedir + '/' + args.model_name + ".th",
                                   args.resume_path + args.model_name + ".th")
    # 加载下载到本地的预训练模型
    pretrained_dict = torch.load(basedir + '/' + args.model_name + ".th", map_location=device)
    
    pretrained_dict = {k: v for k, v in pretrained_dict.items() if np.shape(model_dict[k]) == np.shape(v)}
    model_dict.update(pretrained_dict)
    model.load_state_dict(model_dict)
"""
