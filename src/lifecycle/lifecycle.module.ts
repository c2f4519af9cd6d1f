import { Global, Module } from '@nestjs/common';
import { TrafficService } from './traffic.service.js';

@Global()
@Module({ providers: [TrafficService], exports: [TrafficService] })
export class LifecycleModule {}
